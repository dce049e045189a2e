"""An ECS-task-like network namespace on a bridge: App Mesh iptables, Envoy as uid 1337, the app as another uid.

Everything lives in 198.51.100.0/24 (TEST-NET-2, never routed), and `down()`
removes what `up()` made: processes, namespace (its veth goes with it), the
per-namespace hosts file, and the bridge if this code created it.

Processes started in a task (`popen`, `envoy`) run under supervisor.py: they die with
the process that started them, however it ends. What a SIGKILLed owner leaves in the
kernel (namespace, veth, bridge) is recorded in netns/ownership.py and reclaimed by the
next `up()` of the same task or by `reclaim_dead()`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

from appmesh_local.netns import ownership
from appmesh_local.netns.iptables import Interception, appmesh_rules, iptables_binary
from appmesh_local.proxy.private import private_dir
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary_for_any_user
from appmesh_local.proxy.supervised import SupervisedProcess

NETWORK = ipaddress.ip_network("198.51.100.0/24")
ENVOY_UID = 1337
APP_UID = 1001


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one command; failures raise with its stderr."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _check_address(address: str) -> None:
    if ipaddress.ip_address(address) not in NETWORK:
        raise ValueError(f"{address} is outside {NETWORK}: tasks only use the documentation range")


class Bridge:
    """A Linux bridge holding the host side of every task's veth; its subnet is inside NETWORK."""

    def __init__(
        self, name: str = "aml-br0", address: str = "198.51.100.1", prefixlen: int = NETWORK.prefixlen
    ) -> None:
        _check_address(address)
        if prefixlen < NETWORK.prefixlen:
            raise ValueError(f"a bridge subnet must stay inside {NETWORK}")
        self.name, self.address, self.prefixlen = name, address, prefixlen
        self.created = False

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.address}/{self.prefixlen}", strict=False)

    def exists(self) -> bool:
        return sh("ip", "link", "show", self.name, check=False).returncode == 0

    @classmethod
    def free_slot(cls, start: int = 0) -> Bridge:
        """A bridge on an unused /28 of NETWORK (slots 1-15), so concurrent test runs do not collide."""
        for offset in range(15):
            slot = (start + offset) % 15 + 1
            bridge = cls(f"aml-br{slot}", str(NETWORK.network_address + 16 * slot + 1), 28)
            if not bridge.exists():
                return bridge
        raise RuntimeError("every 198.51.100.0/28 slot has a bridge already")

    def host(self, index: int) -> str:
        """The `index`-th task address of this bridge's subnet (index 1 = first after the bridge)."""
        address = self.subnet.network_address + 1 + index
        if address not in self.subnet or address == self.subnet.broadcast_address:
            raise ValueError(f"no address {index} in {self.subnet}")
        return str(address)

    @property
    def mac(self) -> str:
        """The bridge's own MAC address, fixed for its name (locally administered, unicast).

        A Linux bridge without an assigned address takes the lowest MAC of its ports and changes
        it whenever a task's veth joins or leaves. The tasks already running keep the old one in
        their ARP caches for seconds: their UDP to the host (X-Ray segments, DogStatsD metrics)
        is lost and their TCP to it (xDS) stalls until the cache entry is probed again. An
        assigned address never changes."""
        digest = hashlib.sha256(self.name.encode()).digest()
        return ":".join(f"{octet:02x}" for octet in (0x02, *digest[:5]))

    def up(self) -> Bridge:
        if sh("ip", "link", "show", self.name, check=False).returncode != 0:
            sh("ip", "link", "add", "name", self.name, "address", self.mac, "type", "bridge")
            self.created = True
            ownership.write_record(self.name, "bridge", bridge=self.name)
        elif not self._mac_assigned():  # made by an older appmesh-local: pin it now
            sh("ip", "link", "set", "dev", self.name, "address", self.mac)
        if f"{self.address}/" not in sh("ip", "-4", "addr", "show", "dev", self.name).stdout:
            sh("ip", "addr", "add", f"{self.address}/{self.prefixlen}", "dev", self.name)
        sh("ip", "link", "set", self.name, "up")
        return self

    def _mac_assigned(self) -> bool:
        """Whether the bridge's MAC was set explicitly (the kernel then never replaces it)."""
        path = Path(f"/sys/class/net/{self.name}/addr_assign_type")
        return path.exists() and path.read_text().strip() == "3"  # NET_ADDR_SET

    def down(self) -> None:
        if self.created:
            sh("ip", "link", "del", self.name, check=False)
            ownership.drop_record(self.name)
            self.created = False

    def __enter__(self) -> Bridge:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


class Task:
    """One namespace `aml-<name>` with address `address` on `bridge`."""

    def __init__(
        self,
        name: str,
        address: str,
        bridge: Bridge,
        *,
        hosts: Mapping[str, str] | None = None,
        interception: Interception | None = None,
    ) -> None:
        if len(name) > 9 or not name.replace("-", "").isalnum():
            raise ValueError("task names are short (≤ 9 letters/digits): they name the veth too")
        _check_address(address)
        if ipaddress.ip_address(address) not in bridge.subnet:
            raise ValueError(f"{address} is not in the bridge's subnet {bridge.subnet}")
        self.name, self.address, self.bridge = name, address, bridge
        self.netns = f"aml-{name}"
        self.veth_host, self.veth_ns = f"aml-{name}-h", f"aml-{name}-n"
        self.hosts = dict(hosts or {})
        self.interception = interception
        self.processes: list[SupervisedProcess] = []
        self.envoys: list[EnvoyProcess] = []
        self._made = False
        self._recorded = False

    @property
    def hosts_dir(self) -> Path:
        return Path("/etc/netns") / self.netns

    def up(self) -> Task:
        self._reclaim_leftovers()
        try:
            sh("ip", "netns", "add", self.netns)
            self._made = True
            ownership.write_record(
                self.netns, "task", netns=self.netns, veth=self.veth_host, hosts_dir=str(self.hosts_dir)
            )
            self._recorded = True
            sh("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
            sh("ip", "link", "set", self.veth_ns, "netns", self.netns)
            sh("ip", "link", "set", self.veth_host, "master", self.bridge.name, "up")
            inside = ["ip", "netns", "exec", self.netns]
            sh(*inside, "ip", "link", "set", self.veth_ns, "name", "eth0")
            sh(*inside, "ip", "addr", "add", f"{self.address}/{self.bridge.prefixlen}", "dev", "eth0")
            sh(*inside, "ip", "link", "set", "eth0", "up")
            sh(*inside, "ip", "link", "set", "lo", "up")
            self._write_hosts()
            if self.interception is not None:
                binary = iptables_binary()
                for rule in appmesh_rules(self.interception):
                    sh(*inside, binary, *rule)
        except BaseException:
            self.down()
            raise
        return self

    def _reclaim_leftovers(self) -> None:
        """Clear what a dead owner left under this task's names; refuse names someone else holds."""
        record = ownership.read_record(self.netns)
        if record is not None and ownership.is_orphaned(record):
            ownership.reclaim_task(record, sh)
            ownership.drop_record(self.netns)
        elif record is not None:
            owner = ownership.owner_of(record)
            raise RuntimeError(
                f"task namespace {self.netns} is in use by a running process (pid {owner and owner.pid})"
            )
        if self.netns in sh("ip", "netns", "list", check=False).stdout.split():
            raise RuntimeError(
                f"network namespace {self.netns} exists and no appmesh-local task owns it: "
                f"remove it with `ip netns del {self.netns}` if it is a leftover"
            )

    def _write_hosts(self) -> None:
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", f"{self.address} {self.name}"]
        lines += [f"{address} {hostname}" for hostname, address in sorted(self.hosts.items())]
        (self.hosts_dir / "hosts").write_text("\n".join(lines) + "\n")
        self.hosts_dir.chmod(0o755)
        (self.hosts_dir / "hosts").chmod(0o644)

    def exec_args(self, uid: int | None = None) -> list[str]:
        """argv prefix running a command in the namespace (as `uid`, with no supplementary groups)."""
        args = ["ip", "netns", "exec", self.netns]
        if uid is not None:
            # Changing credentials clears the parent-death signal: setpriv sets it again (util-linux 2.33+).
            args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--pdeathsig=KILL"]
        return args

    def popen(self, argv: Sequence[str], uid: int | None = APP_UID, **kwargs: Any) -> SupervisedProcess:
        """Start a process in the task (as the app uid by default); stopped by `down()` or with its owner.

        Takes SupervisedProcess's keywords: stdout, stderr, env, cwd.
        """
        proc = SupervisedProcess([*self.exec_args(uid), *argv], **kwargs)
        self.processes.append(proc)
        return proc

    def run(
        self, argv: Sequence[str], uid: int | None = APP_UID, timeout: float = 30, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.exec_args(uid), *argv], capture_output=True, text=True, timeout=timeout, **kwargs)

    def envoy(self, bootstrap: Mapping[str, Any], **kwargs: Any) -> EnvoyProcess:
        """Start Envoy in the task as uid 1337 (the uid the egress rule ignores); its admin
        interface is reached on the task's address (it may bind 0.0.0.0 inside the task)."""
        kwargs.setdefault("admin_host", self.address)
        kwargs.setdefault("workdir_parent", private_dir())  # 0711: uid 1337 reaches its own directory only
        envoy = EnvoyProcess(
            bootstrap,
            envoy_path=envoy_binary_for_any_user(),
            command_prefix=self.exec_args(ENVOY_UID),
            owner_uid=ENVOY_UID,
            **kwargs,
        )
        self.envoys.append(envoy)
        return envoy

    def down(self) -> None:
        for envoy in self.envoys:
            envoy.stop()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()  # the app's process group
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            proc.release()
        self.envoys.clear()
        self.processes.clear()
        if self._made:
            sh("ip", "netns", "del", self.netns, check=False)  # takes eth0 and so its host peer with it
            self._made = False
        sh("ip", "link", "del", self.veth_host, check=False)
        shutil.rmtree(self.hosts_dir, ignore_errors=True)
        if self._recorded:
            ownership.drop_record(self.netns)
            self._recorded = False

    def __enter__(self) -> Task:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
