"""`python -m appmesh_local` is the `appmesh-local` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
