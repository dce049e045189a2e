"""The local app's cluster gives up connecting after 0.25 s, as App Mesh's `cds_ingress_...` did.

The app is on loopback next to Envoy: App Mesh gave that cluster a 0.25 s connect timeout (1 s for
other clusters). An app that cannot take connections (here a listener whose accept queue is full, so
the kernel drops new SYNs) makes the sidecar answer 503 after 0.25 s, not after a second.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.dataplane.conftest import APP

APP_PORT = 8080


def test_the_local_app_cluster_times_out_connecting_after_250_ms(scenario, lab):
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="busy",
        spec={
            "listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "busy.dp.local"}},
        },
    )
    task = scenario.task(6, app_ports=(APP_PORT,))
    log = open(lab.workdir / f"{scenario.mesh}-stuck.log", "w+b")
    scenario.stack.callback(log.close)
    task.popen([lab.python, str(APP), "stuck", str(APP_PORT)], stdout=log)
    deadline = time.monotonic() + 10
    while b"ready" not in (log.seek(0) or log.read()):
        assert time.monotonic() < deadline, "the stuck app did not start"
        time.sleep(0.05)
    envoy = scenario.envoy(task, "busy")
    started = time.monotonic()
    try:
        urllib.request.urlopen(f"http://{task.address}:{APP_PORT}/", timeout=10)
        raise AssertionError("a request reached an app that takes no connections")
    except urllib.error.HTTPError as error:
        elapsed = time.monotonic() - started
        assert error.code == 503
    cluster = f"cluster.cds_ingress_{scenario.mesh}_busy_http_{APP_PORT}"
    stats = envoy.stats(cluster)
    assert stats[f"{cluster}.upstream_cx_connect_timeout"] == 1
    assert 0.2 <= elapsed < 0.9, elapsed  # one attempt, 0.25 s (1 s would be App Mesh's other clusters)
