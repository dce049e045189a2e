"""appmesh-local: the AWS App Mesh API and its Envoy control plane, runnable anywhere."""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `import appmesh_local` must stay cheap and side-effect free
    if name in ("serve_in_thread", "start_in_thread", "InProcessServer"):
        from appmesh_local import testing

        return getattr(testing, name)
    raise AttributeError(f"module 'appmesh_local' has no attribute {name!r}")
