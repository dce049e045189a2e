"""Kubernetes manifests of the App Mesh controller (appmesh.k8s.aws/v1beta2)."""
