"""The xDS server: ADS streams (state of the world and delta), the snapshot cache, per-proxy status.

It knows Envoy's protocol and nothing of App Mesh: what it serves comes from the bridge as
`proxy_config.MeshConfig`.
"""
