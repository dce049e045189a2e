"""Cloud Map, ACM and ACM PCA writes are saved before they are acknowledged, or answered 503 and undone.

The probe of issue 15 saw them answered 200 on a full or read-only disk, then gone after a restart.
Here the state directory is a small tmpfs of its own that the test fills or remounts read-only
(root only; otherwise a read-only directory is made by its mode, and the full disk is skipped).
Every answer is then checked against what a SIGKILLed and restarted server holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(180)
ACCOUNT = "111122223333"


class SmallDisk:
    """A directory whose file system can be filled and made read-only on demand."""

    def __init__(self, path: Path, mounted: bool) -> None:
        self.path = path
        self.mounted = mounted
        self.state = path / "state"
        self._filler = path / "filler"

    def fill(self) -> None:
        """Write until the file system refuses: every later new block fails with ENOSPC."""
        chunk = b"\0" * 65536
        with open(self._filler, "wb", buffering=0) as out:
            with contextlib.suppress(OSError):
                while True:
                    out.write(chunk)
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 512)
        probe = self.path / "probe"
        with pytest.raises(OSError) as full:
            probe.write_bytes(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)
        (self.path / "probe").unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        """No new file in the state directory: for root (whom modes do not stop) the immutable flag,
        else the mode. (A read-only remount is refused while the server holds its database open.)"""
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i" if on else "-i", str(self.state)], check=True)
        else:
            self.state.chmod(0o500 if on else 0o755)


def need_chattr_as_root() -> None:
    if os.geteuid() == 0 and shutil.which("chattr") is None:
        pytest.skip("root ignores modes and chattr (e2fsprogs) is missing to make the directory read-only")


def can_mount() -> str | None:
    """None when this process may mount a tmpfs, else why not."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    path = Path(tempfile.mkdtemp(prefix="aml-disk-"))
    mounted = False
    if can_mount() is None:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)], capture_output=True)
        mounted = done.returncode == 0
    small = SmallDisk(path, mounted)
    small.state.mkdir()
    try:
        yield small
    finally:
        with contextlib.suppress(Exception):
            small.read_only(False)
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


def client(server: ServerProcess, service: str, **retries: object):
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCOUNT,
        aws_secret_access_key="testing",
        config=Config(retries=retries or {"max_attempts": 1}, inject_host_prefix=False),
    )


def answered_ok(call, **params: str) -> bool:
    """True for a 2xx, False for a 5xx (anything else fails the test)."""
    try:
        call(**params)
        return True
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, error.response
        return False


def namespace_id(sd, name: str) -> str:
    return next(ns["Id"] for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == name)


def instances(sd, service_id: str) -> list[str]:
    return sorted(i["Id"] for i in sd.list_instances(ServiceId=service_id)["Instances"])


def register(sd, service_id: str, instance: str) -> None:
    sd.register_instance(ServiceId=service_id, InstanceId=instance, Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1"})


def assert_refused_and_undone(sd, service_id: str, instance: str, before: list[str]) -> None:
    with pytest.raises(ClientError) as refused:
        register(sd, service_id, instance)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["Error"]["Code"] == "ServiceUnavailable"
    assert "could not be saved" in error["Error"]["Message"]
    assert instances(sd, service_id) == before  # nothing half-applied in memory


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_unsaved_neighbour_writes_fail_with_a_retryable_503_and_are_undone(disk, trouble):
    if trouble == "full" and not disk.mounted:
        pytest.skip(f"a full disk needs a tmpfs of its own: {can_mount() or 'mount failed'}")
    if trouble == "read-only":
        need_chattr_as_root()
    server = ServerProcess(state_dir=disk.state).start()
    try:
        sd = client(server, "servicediscovery")
        sd.create_http_namespace(Name="apps.local")
        service_id = sd.create_service(Name="db", NamespaceId=namespace_id(sd, "apps.local"))["Service"]["Id"]
        register(sd, service_id, "saved-1")

        disk.fill() if trouble == "full" else disk.read_only(True)
        assert_refused_and_undone(sd, service_id, "lost-1", ["saved-1"])
        # ...and clients retry it: botocore's standard mode retries a 503 by itself
        patient = client(server, "servicediscovery", max_attempts=3, mode="standard")
        with pytest.raises(ClientError) as retried:
            register(patient, service_id, "lost-2")
        assert retried.value.response["ResponseMetadata"]["RetryAttempts"] >= 1
        assert instances(sd, service_id) == ["saved-1"]

        disk.free() if trouble == "full" else disk.read_only(False)
        register(sd, service_id, "saved-2")  # the same server recovers once the disk does
    finally:
        server.kill()
    with ServerProcess(state_dir=disk.state) as restarted:
        sd = client(restarted, "servicediscovery")
        assert instances(sd, service_id) == ["saved-1", "saved-2"]  # every 200, no 503


def test_app_mesh_answers_on_a_full_disk_are_true_after_a_crash(disk):
    """SQLite may still fit a write into its existing WAL; whatever it answered must hold after SIGKILL."""
    if not disk.mounted:
        pytest.skip(f"a full disk needs a tmpfs of its own: {can_mount() or 'mount failed'}")
    server = ServerProcess(state_dir=disk.state).start()
    answers: dict[str, bool] = {}
    try:
        appmesh = client(server, "appmesh")
        appmesh.create_mesh(meshName="before")
        disk.fill()
        for i in range(10):  # under the 15-mesh quota even if every delete fails
            name = f"during-{i}"
            created = answered_ok(appmesh.create_mesh, meshName=name)
            deleted = created and answered_ok(appmesh.delete_mesh, meshName=name)
            answers[name] = created and not deleted
    finally:
        server.kill()
    disk.free()
    with ServerProcess(state_dir=disk.state) as restarted:
        held = {m["meshName"] for m in client(restarted, "appmesh").list_meshes()["meshes"]}
    assert "before" in held
    assert {name for name, stored in answers.items() if stored} == held - {"before"}


def test_every_acknowledged_cloud_map_registration_survives_sigkill(tmp_path):
    """The write answered just before the crash is there: the snapshot is renamed into place first."""
    server = ServerProcess(state_dir=tmp_path).start()
    try:
        sd = client(server, "servicediscovery")
        sd.create_http_namespace(Name="crash.local")
        service_id = sd.create_service(Name="db", NamespaceId=namespace_id(sd, "crash.local"))["Service"]["Id"]
        acknowledged = []
        for i in range(60):
            register(sd, service_id, f"i-{i:03d}")
            acknowledged.append(f"i-{i:03d}")
    finally:
        server.kill()  # right after the last 200: no shutdown hook runs
    with ServerProcess(state_dir=tmp_path) as restarted:
        assert instances(client(restarted, "servicediscovery"), service_id) == acknowledged
