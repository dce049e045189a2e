"""Small pure builders, one module per Envoy resource type (IR → protobuf), plus App Mesh names.

Keep this file free of protobuf imports: the translator imports `names` from here.
"""
