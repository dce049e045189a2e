"""ACM ARNs in the mesh → SDS Secret resources in the proxy's snapshot (what EMS pushed over ADS)."""

from __future__ import annotations

import json
from dataclasses import replace

from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.secrets import issuing_root
from appmesh_local.cli import main as cli_main
from appmesh_local.proxy.bootstrap import SDS_CLUSTER, render_bootstrap
from appmesh_local.translate.loader import snapshot_from_document
from appmesh_local.xds.proxy_config import CLUSTER, LISTENER, SECRET

CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/back"
PCA_ARN = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/root"
LEAF, ROOT = (
    "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----",
)


class FakeAcm:
    """Certificates and CA bundles by ARN; records every lookup's (account, region)."""

    def __init__(self) -> None:
        self.certificates = {CERT_ARN: (f"{LEAF}\n{ROOT}\n", "KEY")}
        self.bundles = {PCA_ARN: f"{ROOT}\n"}
        self.asked: list[tuple[str, str, str]] = []

    def certificate(self, account, region, arn):
        self.asked.append((account, region, arn))
        return self.certificates.get(arn)

    def ca_bundle(self, account, region, arns):
        arns = list(arns)
        self.asked.extend((account, region, a) for a in arns)
        return "".join(self.bundles[a] for a in arns if a in self.bundles) or None


def document(client_policy: dict | None) -> dict:
    back_listener = {
        "portMapping": {"port": 8443, "protocol": "http"},
        "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": CERT_ARN}}},
    }
    front = {"backends": [{"virtualService": {"virtualServiceName": "back.tls.local"}}]}
    if client_policy is not None:
        front["backendDefaults"] = {"clientPolicy": {"tls": client_policy}}
    return {
        "mesh": {"meshName": "tls", "spec": {}},
        "virtualNodes": [
            {
                "virtualNodeName": "back",
                "spec": {"listeners": [back_listener], "serviceDiscovery": {"dns": {"hostname": "back.tls.local"}}},
            },
            {"virtualNodeName": "front", "spec": front},
        ],
        "virtualServices": [
            {"virtualServiceName": "back.tls.local", "spec": {"provider": {"virtualNode": {"virtualNodeName": "back"}}}}
        ],
    }


def upstream(config, name="cds_egress_tls_back_http_8443") -> tls_pb2.UpstreamTlsContext:
    context = tls_pb2.UpstreamTlsContext()
    config.resources[CLUSTER][name].transport_socket.typed_config.Unpack(context)
    return context


def test_listener_certificate_and_client_trust_become_ads_secrets():
    acm = FakeAcm()
    builder = MeshConfigBuilder(secrets=acm)
    snapshot = snapshot_from_document(
        document({"validation": {"trust": {"acm": {"certificateAuthorityArns": [PCA_ARN]}}}})
    )
    config = builder.build(snapshot)
    assert config.problems == ()
    back, front = config.proxies[("virtualNode", "back")], config.proxies[("virtualNode", "front")]

    secret = back.resources[SECRET][CERT_ARN]
    assert secret.tls_certificate.certificate_chain.inline_string == f"{LEAF}\n{ROOT}\n"
    assert secret.tls_certificate.private_key.inline_string == "KEY"
    listener = back.resources[LISTENER]["lds_ingress_0.0.0.0_15000"]
    downstream = tls_pb2.DownstreamTlsContext()
    listener.filter_chains[0].transport_socket.typed_config.Unpack(downstream)
    sds = downstream.common_tls_context.tls_certificate_sds_secret_configs[0]
    assert sds.name == CERT_ARN and sds.sds_config.HasField("ads")

    trust_name = f"trust:{PCA_ARN}"
    assert front.resources[SECRET][trust_name].validation_context.trusted_ca.inline_string == f"{ROOT}\n"
    combined = upstream(front).common_tls_context.combined_validation_context
    assert combined.validation_context_sds_secret_config.name == trust_name
    assert combined.validation_context_sds_secret_config.sds_config.HasField("ads")
    assert [m.matcher.exact for m in combined.default_validation_context.match_typed_subject_alt_names] == [
        "back.tls.local"
    ]
    assert {(a, r) for a, r, _ in acm.asked} == {(snapshot.account, snapshot.region)}


def test_without_a_policy_clients_trust_the_root_the_server_certificate_chains_to():
    config = MeshConfigBuilder(secrets=FakeAcm()).build(snapshot_from_document(document(None)))
    front = config.proxies[("virtualNode", "front")]
    context = upstream(front)
    assert context.sni == "back.tls.local"
    name = context.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name
    assert name == f"trust:{CERT_ARN}"
    assert front.resources[SECRET][name].validation_context.trusted_ca.inline_string == ROOT + "\n"
    assert issuing_root(LEAF) == LEAF + "\n"  # a self-signed (imported) certificate trusts itself


def test_missing_material_is_a_problem_and_no_secret():
    acm = FakeAcm()
    acm.certificates.clear()
    config = MeshConfigBuilder(secrets=acm).build(
        snapshot_from_document(
            document(
                {"validation": {"trust": {"acm": {"certificateAuthorityArns": [PCA_ARN.replace("root", "gone")]}}}}
            )
        )
    )
    assert SECRET not in config.proxies[("virtualNode", "back")].resources
    assert SECRET not in config.proxies[("virtualNode", "front")].resources
    text = "\n".join(config.problems)
    assert f"ACM certificate {CERT_ARN} is not an issued private certificate" in text
    assert "none of the ACM PCA authorities" in text


def test_unchanged_material_keeps_objects_and_a_renewal_changes_only_the_secret():
    acm = FakeAcm()
    builder = MeshConfigBuilder(secrets=acm)
    snapshot = snapshot_from_document(document(None))
    first = builder.build(snapshot)
    second = builder.build(replace(snapshot, revision=snapshot.revision + 1))
    back1, back2 = first.proxies[("virtualNode", "back")], second.proxies[("virtualNode", "back")]
    assert back2 is back1  # nothing new for the cache to encode or push

    acm.certificates[CERT_ARN] = (f"{LEAF}\n{ROOT}\n", "RENEWED-KEY")
    back3 = builder.build(replace(snapshot, revision=snapshot.revision + 2)).proxies[("virtualNode", "back")]
    assert back3 is not back1
    assert back3.resources[SECRET][CERT_ARN].tls_certificate.private_key.inline_string == "RENEWED-KEY"
    assert (
        back3.resources[LISTENER]["lds_ingress_0.0.0.0_15000"] is back1.resources[LISTENER]["lds_ingress_0.0.0.0_15000"]
    )


def test_without_a_source_arns_are_referenced_but_never_resolved():
    config = MeshConfigBuilder().build(snapshot_from_document(document(None)))
    assert all(SECRET not in p.resources for p in config.proxies.values())
    assert upstream(config.proxies[("virtualNode", "front")]).sni == "back.tls.local"


def test_bootstrap_sds_cluster_on_request(capsys):
    plain = render_bootstrap("m", "virtualNode", "n", "127.0.0.1", 4601)
    assert [c["name"] for c in plain["static_resources"]["clusters"]] == ["xds_cluster"]
    with_sds = render_bootstrap("m", "virtualNode", "n", "127.0.0.1", 4601, sds_socket_path="/run/sds.sock")
    cluster = with_sds["static_resources"]["clusters"][1]
    assert cluster["name"] == SDS_CLUSTER == "static_cluster_sds_unix_socket"
    assert (cluster["type"], cluster["connect_timeout"]) == ("STATIC", "1s")
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] == {
        "pipe": {"path": "/run/sds.sock"}
    }
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in options["explicit_http_config"]

    assert (
        cli_main(["bootstrap", "--mesh", "m", "--virtual-node", "n", "--format", "json", "--sds-socket", "/run/x.sock"])
        == 0
    )
    clusters = json.loads(capsys.readouterr().out)["static_resources"]["clusters"]
    assert (
        clusters[-1]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]["path"]
        == "/run/x.sock"
    )
