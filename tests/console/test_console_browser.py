"""The web console in a real headless Chromium (Debian's `chromium`, driven by Playwright).

What a user does there, end to end: create a mesh through a form, see the API's validation
error on a bad spec, watch the topology follow an `aws appmesh update-route` from the CLI
within a second, and see a real Envoy's NACK on its proxy. `UPDATE_SCREENSHOTS=1` (or
`pytest --update-screenshots`) rewrites docs/images/console-*.png from these runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer
from tests.e2e.colorapp import MESH, put_baseline, split_route

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.timeout(180),
]
DOCS_IMAGES = Path(__file__).resolve().parent.parent.parent / "docs" / "images"
# The flags the machine's closed network needs (no background connections), headless, as root.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def update_screenshots() -> bool:
    return os.environ.get("UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessServer]:
    """A server that also serves xDS on a unix socket, for an Envoy in a network namespace of its own."""
    socket_dir = Path(tempfile.mkdtemp(prefix="aml-console-"))
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        xds_host="127.0.0.1",
        xds_port=0,
        state_dir=None,
        listener_bind_address="127.0.0.1",
        xds_socket=str(socket_dir / "xds.sock"),
    )
    running = AppMeshServer(config).start_background()
    try:
        yield InProcessServer(running)
    finally:
        running.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server: InProcessServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1880, "height": 760})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def open_console(page: Any, server: InProcessServer, **query: str) -> None:
    suffix = "?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else ""
    page.goto(f"{server.endpoint}/_appmesh-local/console/{suffix}")


def test_create_a_mesh_through_the_form(page: Any, server: InProcessServer) -> None:
    open_console(page, server)
    form = page.get_by_test_id("new-mesh")
    form.locator("input[name=meshName]").fill("from-the-form")
    form.locator("select[name=egressFilter]").select_option("ALLOW_ALL")
    form.get_by_role("button", name="Create mesh").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=mesh-select] option')].some(o => o.value.endsWith('/from-the-form'))"
    )
    described = server.client().describe_mesh(meshName="from-the-form")["mesh"]
    assert described["spec"]["egressFilter"] == {"type": "ALLOW_ALL"}
    # The same name again: the API's ConflictException, shown as the API says it.
    form.locator("input[name=meshName]").fill("from-the-form")
    form.get_by_role("button", name="Create mesh").click()
    error = page.get_by_test_id("api-error")
    error.wait_for()
    assert error.inner_text().startswith("ConflictException: ")


def test_a_bad_spec_shows_the_apis_validation_message(page: Any, server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="forms")
    bad_spec = {"listeners": [{"portMapping": {"port": 8080, "protocol": "htttp"}}]}
    try:
        client.create_virtual_node(meshName="forms", virtualNodeName="bad", spec=bad_spec)
    except client.exceptions.BadRequestException as error:
        cli_message = error.response["Error"]["Message"]
    else:
        pytest.fail("the API accepted an invalid protocol")
    open_console(page, server, mesh="forms", tab="resources")
    form = page.get_by_test_id("new-resource")
    form.locator("select[name=kind]").select_option("virtualNode")
    form.locator("input[name=name]").fill("bad")
    form.get_by_role("button", name="New…").click()
    page.locator("textarea[name=spec]").fill(json.dumps(bad_spec))
    page.get_by_test_id("save").click()
    error = page.get_by_test_id("api-error")
    error.wait_for()
    assert error.inner_text() == f"BadRequestException: {cli_message}"
    assert client.list_virtual_nodes(meshName="forms")["virtualNodes"] == []  # nothing stored


def test_topology_follows_a_cli_route_change_within_a_second(
    page: Any, server: InProcessServer, tmp_path: Path
) -> None:
    client = server.client()
    put_baseline(client)
    client.update_route(meshName=MESH, virtualRouterName="color", routeName="split", spec=split_route(80, 20))
    open_console(page, server, mesh=MESH)
    page.locator("text=split 80%").first.wait_for()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }
    )
    spec = json.dumps(split_route(50, 50))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "appmesh",
            "update-route",
            "--mesh-name",
            MESH,
            "--virtual-router-name",
            "color",
            "--route-name",
            "split",
            "--spec",
            spec,
            "--endpoint-url",
            server.endpoint,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answered = time.monotonic()
    page.locator("text=split 50%").first.wait_for(timeout=5000)
    seen_after = time.monotonic() - answered
    print(f"\ntopology showed the CLI's route change {seen_after * 1000:.0f} ms after the CLI returned")
    assert seen_after < 1.0


def test_a_real_envoys_nack_shows_on_its_proxy(page: Any, server: InProcessServer) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to give this Envoy a network namespace of its own")
    client = server.client()
    put_baseline(client)
    socket_path = server.server.config.xds_socket
    bootstrap = render_bootstrap(MESH, "virtualNode", "blue", "127.0.0.1", 0, admin_port=0, xds_socket_path=socket_path)
    # Its own network namespace: its listeners (15000, 15001, 8080) cannot collide with anything.
    isolated = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    envoy = EnvoyProcess(bootstrap, command_prefix=isolated, log_level="warn")
    envoy.start(wait_live=False)  # its admin is inside its namespace: the server's status tells
    try:
        open_console(page, server, mesh=MESH)
        page.locator("[data-node='virtualNode/blue'] [data-proxy-state=ack]").wait_for(timeout=20000)
        if update_screenshots():
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            page.get_by_test_id("topology").screenshot(path=str(DOCS_IMAGES / "console-topology.png"))
        broken = {"accessLog": {"file": {"path": "/dev/stdout", "format": {"text": "%INVALID_OPERATOR%\n"}}}}
        spec = client.describe_virtual_node(meshName=MESH, virtualNodeName="blue")["virtualNode"]["spec"]
        client.update_virtual_node(meshName=MESH, virtualNodeName="blue", spec={**spec, "logging": broken})
        badge = page.locator("[data-node='virtualNode/blue'] [data-proxy-state=nack]")
        badge.wait_for(timeout=20000)
        assert "INVALID_OPERATOR" in badge.locator("title").text_content()
        if update_screenshots():
            page.get_by_test_id("topology").screenshot(path=str(DOCS_IMAGES / "console-nack.png"))
        client.update_virtual_node(meshName=MESH, virtualNodeName="blue", spec=spec)
    finally:
        envoy.stop()
