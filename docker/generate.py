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
TASKS = {"front": (9080,), "blue": (9080,), "red": (9080,)}  # task -> app ports its init container intercepts


def render() -> dict[str, str]:
    """Relative path -> file content."""
    return {f"proxyinit/{task}.sh": rules_script(Interception(app_ports=ports)) for task, ports in TASKS.items()}


def stale_files() -> list[str]:
    """Generated files no longer produced (a renamed task's script): --check reports them, a run deletes them."""
    wanted = set(render())
    return sorted(
        str(path.relative_to(HERE))
        for path in (HERE / "proxyinit").glob("*")
        if str(path.relative_to(HERE)) not in wanted
    )


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
            path.chmod(0o755)
    leftovers = stale_files()
    for relative in leftovers:
        if not args.check:
            (HERE / relative).unlink()
    for relative in stale:
        print(("stale: " if args.check else "wrote: ") + f"docker/{relative}")
    for relative in leftovers:
        print(("left over: " if args.check else "removed: ") + f"docker/{relative}")
    return 1 if args.check and (stale or leftovers) else 0


if __name__ == "__main__":
    sys.exit(main())
