"""Regenerate docker/proxyinit/*.sh from appmesh-local's own generator of App Mesh's iptables rules.

    python docker/generate.py            # rewrite the committed files
    python docker/generate.py --check    # exit 1 if they are stale (tests do the same)

The Envoy sidecars need no generated file: like App Mesh's Envoy image, `appmesh-local envoy`
builds its bootstrap from the container's environment block (docker-compose.yml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appmesh_local.netns.iptables import Interception, rules_script

HERE = Path(__file__).resolve().parent
TASKS = {"service-a": (9080,), "service-b": (9080,)}  # task -> app ports its init container intercepts


def render() -> dict[str, str]:
    """Relative path -> file content."""
    return {f"proxyinit/{task}.sh": rules_script(Interception(app_ports=ports)) for task, ports in TASKS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for relative, content in render().items():
        path = HERE / relative
        if path.exists() and path.read_text() == content:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            if path.suffix == ".sh":
                path.chmod(0o755)
    for relative in stale:
        print(("stale: " if args.check else "wrote: ") + f"docker/{relative}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
