"""Stats and the admin interface as App Mesh's Envoy image gave them, from its environment variables.

- With ENABLE_ENVOY_STATS_TAGS=1 every metric carries `appmesh.mesh` and `appmesh.virtual_node`;
  with several listeners the ingress stats of each carry `appmesh.listener_protocol` and
  `appmesh.listener_port` instead of having them in the metric name: Prometheus shows
  `envoy_http_downstream_rq_xx{appmesh_listener_port="8080",...}` (the user guide's example), and
  DogStatsD (ENABLE_ENVOY_DOG_STATSD) sends the same tags to the StatsD address given.
- The admin interface answers on the port ENVOY_ADMIN_ACCESS_PORT names, logs its requests to
  ENVOY_ADMIN_ACCESS_LOG_FILE, takes IPv6 with ENVOY_ADMIN_ACCESS_ENABLE_IPV6; inside a task it
  listens on all the task's addresses, as App Mesh's `0.0.0.0:9901` did (its readiness probe
  calls `localhost:9901/server_info`); on the host it stays on loopback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from pathlib import Path

from appmesh_local.testing import start_envoy
from tests.dataplane.servers import UdpReceiver
from tests.support.waiting import wait_until

PORTS = (8080, 8081)
PROMETHEUS_LINE = re.compile(r"^(?P<name>\w+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LIVE_PROBE = (
    "import json, sys, urllib.request; "
    "print(json.loads(urllib.request.urlopen(sys.argv[1], timeout=5).read())['state'])"
)


def prometheus(text: str, metric: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        match = PROMETHEUS_LINE.match(line)
        if match and match["name"] == metric:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            out.append((labels, float(match["value"])))
    return out


def statsd_counts(lines: list[str], metric: str) -> Counter:
    """DogStatsD counter deltas summed per tag set: `name:value|c|#tag:v,tag:v`."""
    totals: Counter = Counter()
    for line in lines:
        name, _, rest = line.partition(":")
        if name != metric:
            continue
        value, kind, *extra = rest.split("|")
        tags = next((part[1:] for part in extra if part.startswith("#")), "")
        if kind == "c":
            totals[tuple(sorted(tags.split(",")))] += float(value)
    return totals


def test_stats_carry_app_mesh_tags_in_prometheus_and_dogstatsd(scenario, lab):
    statsd = scenario.close(UdpReceiver(lab.bridge.address))
    appmesh, mesh = scenario.appmesh, scenario.mesh
    appmesh.create_virtual_node(
        meshName=mesh,
        virtualNodeName="front",
        spec={
            "listeners": [{"portMapping": {"port": port, "protocol": "http"}} for port in PORTS],
            "serviceDiscovery": {"dns": {"hostname": "front.dp.local"}},
        },
    )
    task = scenario.task(2, app_ports=PORTS)
    scenario.serve(task, "serve", "front", "0.0.0.0", *map(str, PORTS), port=PORTS[0])
    admin_log = lab.workdir / f"{mesh}-admin.log"
    envoy = scenario.envoy(
        task,
        "front",
        environment={
            "ENABLE_ENVOY_STATS_TAGS": "1",
            "ENABLE_ENVOY_DOG_STATSD": "1",
            "STATSD_ADDRESS": lab.bridge.address,
            "STATSD_PORT": str(statsd.port),
            "ENVOY_STATS_FLUSH_INTERVAL": "1s",
            "ENVOY_ADMIN_ACCESS_PORT": "9911",
            "ENVOY_ADMIN_ACCESS_LOG_FILE": str(admin_log),
        },
    )
    sent = {8080: 2, 8081: 3}
    for port, count in sent.items():
        for _ in range(count):  # from the host to the task's app port: its iptables hand it to Envoy
            with urllib.request.urlopen(f"http://{task.address}:{port}/", timeout=5) as response:
                assert json.loads(response.read())["port"] == port

    # Prometheus: the listener's port and protocol are labels, not part of the metric's name.
    text = envoy.admin_get("/stats/prometheus")
    rows = prometheus(text, "envoy_http_downstream_rq_xx")
    for port, count in sent.items():
        [(labels, value)] = [
            (labels, value)
            for labels, value in rows
            if labels.get("appmesh_listener_port") == str(port) and labels.get("envoy_response_code_class") == "2"
        ]
        assert value == count
        assert labels == {
            "envoy_response_code_class": "2",
            "appmesh_mesh": mesh,
            "appmesh_virtual_node": "front",
            "appmesh_listener_protocol": "http",
            "appmesh_listener_port": str(port),
            "envoy_http_conn_manager_prefix": "ingress",
        }
    assert "envoy_http_ingress_http_8080" not in text and "envoy_http_http_8080" not in text

    # DogStatsD: the same tags, on the UDP address the variables named.
    def counted() -> Counter:
        return statsd_counts(statsd.lines(), "envoy.http.downstream_rq_xx")

    for port, count in sent.items():
        tags = tuple(
            sorted(
                [
                    "envoy.response_code_class:2",
                    f"appmesh.mesh:{mesh}",
                    "appmesh.virtual_node:front",
                    "appmesh.listener_protocol:http",
                    f"appmesh.listener_port:{port}",
                    "envoy.http_conn_manager_prefix:ingress",
                ]
            )
        )
        wait_until(
            lambda t=tags, c=count: counted()[t] == c, 10, f"StatsD never counted {count} for {tags}: {counted()}"
        )

    # The admin interface: on the variable's port, logging to its file.
    assert envoy.admin_url == f"http://{task.address}:9911"
    probe = task.run([lab.python, "-c", LIVE_PROBE, "http://localhost:9911/server_info"], timeout=30)
    assert probe.stdout.strip() == "LIVE", probe.stderr  # App Mesh's readiness probe, inside the task
    assert "GET /server_info" in admin_log.read_text()


def test_admin_answers_where_the_variables_say(scenario, lab, tmp_path):
    """ENVOY_ADMIN_ACCESS_ENABLE_IPV6 and ENVOY_ADMIN_ACCESS_PORT through the three ways an Envoy starts:
    a task (IPv6 and IPv4 on all the task's addresses), the pytest plugin's factory and the
    `appmesh-local envoy` command (loopback: ::1 with IPv6)."""
    scenario.appmesh.create_virtual_node(meshName=scenario.mesh, virtualNodeName="idle", spec={})
    task = scenario.task(3)
    envoy = scenario.envoy(task, "idle", environment={"ENVOY_ADMIN_ACCESS_ENABLE_IPV6": "true"})
    assert envoy.admin_url == f"http://{task.address}:9901"  # the IPv4 address of the task, through `::`
    for url in ("http://[::1]:9901/server_info", "http://127.0.0.1:9901/server_info"):
        probe = task.run([lab.python, "-c", LIVE_PROBE, url], timeout=30)
        assert probe.stdout.strip() == "LIVE", (url, probe.stderr)

    # The pytest plugin's factory (appmesh_envoy / testing.start_envoy) with an environment block.
    port = free_port(socket.AF_INET6, "::1")
    plugin_envoy = start_envoy(
        lab.server,
        scenario.mesh,
        virtual_node="not-yet-created",  # no listeners here: nothing but the admin interface binds
        wait=False,
        environment={"ENVOY_ADMIN_ACCESS_PORT": str(port), "ENVOY_ADMIN_ACCESS_ENABLE_IPV6": "1"},
    )
    try:
        assert plugin_envoy.admin_url == f"http://[::1]:{port}"
        assert json.loads(plugin_envoy.admin_get("/server_info"))["state"]
        # Envoy flushes access log files on a timer (1 s by default): the line comes, not at once.
        wait_until(
            lambda: "GET /server_info" in plugin_envoy.admin_access_log_path.read_text(),
            timeout=10,
            message=f"GET /server_info in {plugin_envoy.admin_access_log_path}",
        )
    finally:
        plugin_envoy.stop()

    # `appmesh-local envoy`, configured only by the image's variables, stopped by SIGTERM (a container's stop).
    port = free_port(socket.AF_INET, "127.0.0.1")
    environment = {
        **clean_environment(),
        "APPMESH_RESOURCE_ARN": f"mesh/{scenario.mesh}/virtualNode/not-yet-created",
        "APPMESH_XDS_ENDPOINT": f"127.0.0.1:{lab.server.xds_port}",
        "ENVOY_ADMIN_ACCESS_PORT": str(port),
        "ENVOY_LOG_LEVEL": "warning",
    }
    command = subprocess.Popen(
        [sys.executable, "-m", "appmesh_local", "envoy"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    output: list[str] = []
    assert command.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(command.stdout), daemon=True)
    reader.start()
    try:
        state = wait_until(
            lambda: admin_state(f"http://127.0.0.1:{port}"), 30, "`appmesh-local envoy` admin never answered"
        )
        assert state in ("PRE_INITIALIZING", "INITIALIZING", "LIVE")
        # The command announces the admin address once Envoy's start is confirmed, which can come
        # a moment after the admin first answers: a SIGTERM before it ends the start unannounced.
        wait_until(
            lambda: any(f"admin 127.0.0.1:{port}" in line for line in output),
            30,
            f"`appmesh-local envoy` never announced admin 127.0.0.1:{port}",
        )
        command.send_signal(signal.SIGTERM)
        assert command.wait(30) == 0
    finally:
        if command.poll() is None:
            command.kill()
            command.wait(10)
        reader.join(10)


def admin_state(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
            return json.loads(response.read())["state"]
    except OSError:
        return None


def free_port(family: int, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """This process's environment without App Mesh image variables a developer may have exported."""
    prefixes = ("APPMESH_", "ENVOY_", "ENABLE_ENVOY_", "XRAY_", "JAEGER_", "DATADOG_", "STATSD_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
