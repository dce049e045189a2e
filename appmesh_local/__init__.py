"""appmesh-local: the AWS App Mesh API and its Envoy control plane, runnable anywhere."""

__version__ = "0.1.0"
