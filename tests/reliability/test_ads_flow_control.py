"""ADS clients that do not play by the rules cost the server a bounded amount, for a bounded time.

The probe of issue 15 grew the server by 155 MB with a client that sent 100 MB of requests and
read nothing back, and crashed it with 1,100 idle connections to the xDS port followed by one
API call. Servers run in their own process here, so their memory is measured alone.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from contextlib import ExitStack
from typing import Any, Iterator

import grpc
import psutil
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from appmesh_local.xds.peers import disconnect_peer
from tests.support.server import ServerProcess
from tests.xds.ads_client import AdsClient

pytestmark = pytest.mark.timeout(180)
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
NODE = "mesh/flood/virtualNode/big"

# An xDS server alone in its process, with one proxy whose clusters make ~2 MB per CDS response,
# and a short fuse for hostile peers; it prints its port, then serves until stdin closes.
SERVER = textwrap.dedent(
    """
    import logging, sys
    from envoy.config.cluster.v3 import cluster_pb2
    from appmesh_local.bridge.runtime import XdsRuntime
    from appmesh_local.xds.ads import FlowLimits
    from appmesh_local.xds.node_id import ProxyRef
    from appmesh_local.xds.proxy_config import CLUSTER

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    runtime = XdsRuntime(port=0, flow_limits=FlowLimits(hostile_after_s=2, stall_after_s=30, check_every_s=0.2))
    runtime.start()
    clusters = {
        f"cluster-{i:05d}-" + "x" * 180: cluster_pb2.Cluster(name=f"cluster-{i:05d}-" + "x" * 180, alt_stat_name="y" * 400)
        for i in range(3000)
    }
    runtime.cache.set_proxy(ProxyRef("123456789012", "us-east-1", "flood", "virtualNode", "big"), {CLUSTER: clusters})
    print(runtime.port, flush=True)
    sys.stdin.read()
    runtime.stop(grace=0)
    """
)


class XdsServer:
    """The SERVER script as a child process; `log()` is what it wrote to stderr."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._log: list[str] = []
        threading.Thread(target=lambda: self._log.extend(iter(self.proc.stderr.readline, "")), daemon=True).start()
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), f"xDS server did not start: {line!r} {self.log()}"
        self.port = int(line)
        self.process = psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        return self.process.memory_info().rss / 1e6

    def log(self) -> str:
        return "".join(self._log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def xds_server() -> Iterator[XdsServer]:
    server = XdsServer()
    yield server
    server.stop()


def flood(port: int, megabytes: int, sent: list[int]) -> grpc.RpcError | None:
    """Send `megabytes` 1 MB requests on one stream (each asks for the whole CDS again) and never
    read a response; return how the call ended (None if it never did)."""
    names = ["n" * 1000] * 1000  # ~1 MB of resource names
    node = AdsClient.node(NODE)

    def requests() -> Iterator[discovery_pb2.DiscoveryRequest]:
        for _ in range(megabytes):
            sent[0] += 1
            yield discovery_pb2.DiscoveryRequest(node=node, type_url=CDS, resource_names=names)

    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}",
        options=[("grpc.max_send_message_length", 8 << 20), ("grpc.use_local_subchannel_pool", 1)],
    )
    call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(requests())
    outcome: queue.Queue[grpc.RpcError | None] = queue.Queue()
    call.add_done_callback(lambda c: outcome.put(c.exception() if c.code() != grpc.StatusCode.OK else None))
    try:
        return outcome.get(timeout=30)
    except queue.Empty:
        return None
    finally:
        call.cancel()
        channel.close()


def test_a_client_that_stops_reading_but_keeps_sending_costs_bounded_memory_and_is_cut_off(xds_server):
    before = xds_server.rss_mb()
    sent = [0]
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], xds_server.rss_mb())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    ended = flood(xds_server.port, megabytes=100, sent=sent)
    took = time.monotonic() - started
    done.set()
    watcher.join()

    assert ended is not None, "the server never ended the stream of a client that read nothing"
    assert took < 15, f"cut off after {took:.1f} s (hostile_after_s is 2)"
    assert sent[0] < 60, f"{sent[0]} MB were taken from a client that read nothing"  # flow control held it
    growth = peak[0] - before
    assert growth < 60, f"server grew by {growth:.0f} MB (was +155 MB before flow control)"
    assert "disconnected" in xds_server.log() and "stalled or hostile client" in xds_server.log()

    # the server is unharmed: a well-behaved client is served, and the cut-off shows in its status
    client = AdsClient(xds_server.port)
    try:
        client.request(CDS, node=AdsClient.node(NODE))
        response = client.recv(timeout=10)
        assert response is not None and len(response.resources) == 3000
    finally:
        client.close()
    print(f"flood: {sent[0]} MB offered, server +{growth:.0f} MB peak, cut off after {took:.1f} s")


def test_disconnect_peer_ends_exactly_that_tcp_connection():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with (
            socket.create_connection(("127.0.0.1", port)) as victim,
            socket.create_connection(("127.0.0.1", port)) as bystander,
        ):
            accepted = [listener.accept()[0] for _ in range(2)]
            try:
                victim_port = victim.getsockname()[1]
                assert disconnect_peer(f"ipv4:127.0.0.1:{victim_port}")
                victim.settimeout(5)
                assert victim.recv(1) == b""  # the server side of its connection is shut down
                bystander.sendall(b"x")
                server_side = next(s for s in accepted if s.getpeername() == bystander.getsockname())
                assert server_side.recv(1) == b"x"  # the other connection is untouched
            finally:
                for sock in accepted:
                    sock.close()
    assert not disconnect_peer("ipv4:127.0.0.1:1")  # no such connection
    assert not disconnect_peer("unix:/tmp/x.sock")  # not a TCP peer


# ---- 1,100 idle connections ------------------------------------------------------------------------
def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted}: cannot open the idle connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def http_front_uses_select() -> bool:
    """The API is still served by waitress, whose select() loop cannot take descriptors above 1023
    (issue 15's crash: the idle xDS connections push the API's next socket past it)."""
    from appmesh_local.web import serving

    return any(str(getattr(value, "__module__", "")).startswith("waitress") for value in vars(serving).values())


def test_1100_idle_connections_to_the_xds_port_do_not_hurt_the_server():
    raise_fd_limit(4096)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # the server starts with CI's usual soft limit...
    try:
        server = ServerProcess().start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with ExitStack() as idle:
        idle.callback(server.stop)
        assert psutil.Process(server.proc.pid).rlimit(psutil.RLIMIT_NOFILE)[0] > 1100  # ...and lifts it
        appmesh = _client(server.endpoint)
        appmesh.create_mesh(meshName="idle")
        appmesh.create_virtual_node(meshName="idle", virtualNodeName="n", spec={})
        for _ in range(1100):
            idle.enter_context(socket.create_connection(("127.0.0.1", server.xds_port), timeout=5))
        time.sleep(1)
        assert server.proc.poll() is None
        assert psutil.Process(server.proc.pid).num_fds() > 1100  # they are all open on the server

        started = time.monotonic()
        client = AdsClient(server.xds_port)
        try:
            client.request(CDS, node=AdsClient.node("mesh/idle/virtualNode/n"))
            assert client.recv(timeout=10) is not None
        finally:
            client.close()
        assert time.monotonic() - started < 5
        if http_front_uses_select():
            pytest.xfail("the HTTP front still uses waitress's select() (>1023 descriptors): E1's server fixes it")
        with urllib.request.urlopen(f"{server.endpoint}/_appmesh-local/health", timeout=1) as response:
            assert json.loads(response.read())["status"] == "ok"
        assert server.proc.poll() is None


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "appmesh",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


assert os.name == "posix"
