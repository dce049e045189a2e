"""A live mesh written back as the definitions teams kept: a CloudFormation template or
App Mesh controller manifests. `appmesh-local apply` of the output on an empty server
makes the same resources, and exporting those gives the same output again.

Template: one `AWS::AppMesh::*` resource per App Mesh resource, properties in the
template's own spelling (the registry schema's, via cfn-lint), names as they are, and
references as `Fn::GetAtt` so a stack creates them in order (the mesh name, a route's
router and targets, a service's provider, a gateway route's gateway and target; a
node's backends stay plain names, as App Mesh lets a backend exist before its service
and a node may call a service that routes back to it).

Manifests: a Namespace labelled for the mesh, the Mesh selecting it, and one object
per resource with `awsName` set to the exact App Mesh name (object names are that name
made DNS-safe); references by `*Ref`, routes inline in their VirtualRouter, each
GatewayRoute labelled for the VirtualGateway whose `gatewayRouteSelector` picks it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import yaml

from ..apply.cfn import schema as cfn_schema
from ..apply.meshops import create_input_shape
from ..apply.shapes import from_api
from ..service import kinds
from ..store.records import MeshSnapshot

CFN_TYPES = {
    kinds.MESH: "AWS::AppMesh::Mesh",
    kinds.VIRTUAL_NODE: "AWS::AppMesh::VirtualNode",
    kinds.VIRTUAL_ROUTER: "AWS::AppMesh::VirtualRouter",
    kinds.ROUTE: "AWS::AppMesh::Route",
    kinds.VIRTUAL_SERVICE: "AWS::AppMesh::VirtualService",
    kinds.VIRTUAL_GATEWAY: "AWS::AppMesh::VirtualGateway",
    kinds.GATEWAY_ROUTE: "AWS::AppMesh::GatewayRoute",
}
TEMPLATE_VERSION = "2010-09-09"


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases: a template reads the same wherever a value repeats."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


def dump_yaml_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, explicit_start=True)


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


class _LogicalIds:
    """Readable, unique logical ids: `VirtualNodeColortellerBlue`, `RouteColortellerRouteBlue`."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.by_resource: dict[tuple[str, str, str], str] = {}

    def __call__(self, kind: kinds.Kind, name: str, parent: str = "") -> str:
        key = (kind.kind, parent, name)
        if key not in self.by_resource:
            base = (kind.title + _pascal(parent) + _pascal(name))[:240] or kind.title
            candidate, number = base, 2
            while candidate in self.taken:
                candidate, number = f"{base}{number}", number + 1
            self.taken.add(candidate)
            self.by_resource[key] = candidate
        return self.by_resource[key]


def _get_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def _cfn_spec(kind: kinds.Kind, spec: Mapping[str, Any]) -> Any:
    type_name, top = CFN_TYPES[kind], create_input_shape(kind)
    spec_shape = top.members["spec"]
    return from_api(spec, spec_shape, lambda shape, member, path: cfn_schema.spell(type_name, top, shape, member))


def cloudformation_template(snapshot: MeshSnapshot) -> dict[str, Any]:
    """The mesh as a CloudFormation template (a dict, for YAML or JSON)."""
    ids = _LogicalIds()
    mesh_id = ids(kinds.MESH, snapshot.name)
    mesh_name = _get_att(mesh_id, "MeshName")
    resources: dict[str, Any] = {}

    def add(kind: kinds.Kind, name: str, spec: Mapping[str, Any], parent: str = "", parent_ref: Any = None) -> None:
        properties: dict[str, Any] = {} if kind is kinds.MESH else {"MeshName": mesh_name}
        if kind.parent is not None:
            properties[_pascal(kind.parent.name_param)] = parent_ref
        properties[kind.name_param[:1].upper() + kind.name_param[1:]] = name
        if spec:
            properties["Spec"] = _cfn_spec(kind, spec)
        resources[ids(kind, name, parent)] = {"Type": CFN_TYPES[kind], "Properties": properties}

    def node_ref(name: str) -> Any:
        return _get_att(ids(kinds.VIRTUAL_NODE, name), "VirtualNodeName") if name in snapshot.virtual_nodes else name

    def service_ref(name: str) -> Any:
        return (
            _get_att(ids(kinds.VIRTUAL_SERVICE, name), "VirtualServiceName")
            if name in snapshot.virtual_services
            else name
        )

    add(kinds.MESH, snapshot.name, _without_defaults(kinds.MESH, snapshot.spec))
    for name, spec in sorted(snapshot.virtual_nodes.items()):
        add(kinds.VIRTUAL_NODE, name, _without_defaults(kinds.VIRTUAL_NODE, spec))
    for name, spec in sorted(snapshot.virtual_routers.items()):
        add(kinds.VIRTUAL_ROUTER, name, spec)
    for router, routes in sorted(snapshot.routes.items()):
        for name, spec in sorted(routes.items()):
            add(
                kinds.ROUTE,
                name,
                _with_route_targets(spec, node_ref),
                router,
                _get_att(ids(kinds.VIRTUAL_ROUTER, router), "VirtualRouterName"),
            )
    for name, spec in sorted(snapshot.virtual_services.items()):
        add(
            kinds.VIRTUAL_SERVICE,
            name,
            _with_provider(
                spec,
                node_ref,
                lambda r: (
                    _get_att(ids(kinds.VIRTUAL_ROUTER, r), "VirtualRouterName") if r in snapshot.virtual_routers else r
                ),
            ),
        )
    for name, spec in sorted(snapshot.virtual_gateways.items()):
        add(kinds.VIRTUAL_GATEWAY, name, spec)
    for gateway, routes in sorted(snapshot.gateway_routes.items()):
        for name, spec in sorted(routes.items()):
            add(
                kinds.GATEWAY_ROUTE,
                name,
                _with_gateway_target(spec, service_ref),
                gateway,
                _get_att(ids(kinds.VIRTUAL_GATEWAY, gateway), "VirtualGatewayName"),
            )
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": f"App Mesh mesh {snapshot.name}, exported by appmesh-local",
        "Resources": resources,
    }


def _without_defaults(kind: kinds.Kind, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what the API fills in by itself (empty listener and backend lists)."""
    return {
        k: v for k, v in spec.items() if not (kind is kinds.VIRTUAL_NODE and k in ("backends", "listeners") and v == [])
    }


ROUTE_TYPES = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")


def _with_route_targets(spec: Mapping[str, Any], node: Any) -> dict[str, Any]:
    out = dict(spec)
    for route_type in ROUTE_TYPES:
        if route_type in out:
            body = dict(out[route_type])
            action = dict(body.get("action") or {})
            action["weightedTargets"] = [
                {**t, "virtualNode": node(t["virtualNode"])} for t in action.get("weightedTargets") or []
            ]
            body["action"] = action
            out[route_type] = body
    return out


def _with_provider(spec: Mapping[str, Any], node: Any, router: Any) -> dict[str, Any]:
    provider = dict(spec.get("provider") or {})
    if "virtualNode" in provider:
        provider["virtualNode"] = {
            **provider["virtualNode"],
            "virtualNodeName": node(provider["virtualNode"]["virtualNodeName"]),
        }
    if "virtualRouter" in provider:
        provider["virtualRouter"] = {
            **provider["virtualRouter"],
            "virtualRouterName": router(provider["virtualRouter"]["virtualRouterName"]),
        }
    return {**spec, "provider": provider} if provider else dict(spec)


def _with_gateway_target(spec: Mapping[str, Any], service: Any) -> dict[str, Any]:
    out = dict(spec)
    for route_type in ROUTE_TYPES:
        if route_type in out:
            body = dict(out[route_type])
            action = dict(body.get("action") or {})
            target = dict(action.get("target") or {})
            if "virtualService" in target:
                target["virtualService"] = {
                    **target["virtualService"],
                    "virtualServiceName": service(target["virtualService"]["virtualServiceName"]),
                }
            action["target"] = target
            body["action"] = action
            out[route_type] = body
    return out


# ---- Kubernetes -------------------------------------------------------------------------------
API_VERSION = "appmesh.k8s.aws/v1beta2"
# The controller's CRDs spell these API members with capital ARN (types in its apis/appmesh/v1beta2);
# every other field of a spec is the API member's own name.
CRD_SPELLINGS = {"certificateArn": "certificateARN", "certificateAuthorityArns": "certificateAuthorityARNs"}
MESH_LABEL = "appmesh.k8s.aws/mesh"
GATEWAY_LABEL = "appmesh.k8s.aws/gateway"


def _k8s_name(name: str) -> str:
    """An App Mesh name made a DNS-1123 subdomain (lowercase letters, digits, '-', '.')."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return cleaned[:253] or "x"


class _Names:
    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}
        self.by_resource: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, aws_name: str) -> str:
        key = (kind, aws_name)
        if key not in self.by_resource:
            taken = self.taken.setdefault(kind, set())
            base = candidate = _k8s_name(aws_name)
            number = 2
            while candidate in taken:
                candidate, number = f"{base}-{number}", number + 1
            taken.add(candidate)
            self.by_resource[key] = candidate
        return self.by_resource[key]


def _crd(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {CRD_SPELLINGS.get(k, k): _crd(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_crd(v) for v in value]
    return value


def kubernetes_manifests(snapshot: MeshSnapshot, namespace: str | None = None) -> list[dict[str, Any]]:
    """The mesh as App Mesh controller objects (documents for a multi-document YAML file)."""
    names = _Names()
    namespace = namespace or _k8s_name(snapshot.name)
    mesh_k8s = names("Mesh", snapshot.name)
    selector = {"matchLabels": {MESH_LABEL: mesh_k8s}}
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {MESH_LABEL: mesh_k8s}}},
        {
            "apiVersion": API_VERSION,
            "kind": "Mesh",
            "metadata": {"name": mesh_k8s},
            "spec": {
                "awsName": snapshot.name,
                "namespaceSelector": selector,
                **{
                    ("meshServiceDiscovery" if k == "serviceDiscovery" else k): _crd(v)
                    for k, v in snapshot.spec.items()
                },
            },
        },
    ]

    def obj(kind: str, aws_name: str, spec: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> None:
        metadata: dict[str, Any] = {"name": names(kind, aws_name), "namespace": namespace}
        if labels:
            metadata["labels"] = dict(labels)
        documents.append(
            {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": {"awsName": aws_name, **_crd(spec)}}
        )

    def ref(kind: str, aws_name: str) -> dict[str, str]:
        return {"name": names(kind, aws_name)}

    for name, spec in sorted(snapshot.virtual_nodes.items()):
        spec = _without_defaults(kinds.VIRTUAL_NODE, spec)
        backends = []
        for backend in spec.get("backends") or []:
            service = dict(backend.get("virtualService") or {})
            target = service.pop("virtualServiceName", "")
            service["virtualServiceRef" if target in snapshot.virtual_services else "virtualServiceARN"] = (
                ref("VirtualService", target)
                if target in snapshot.virtual_services
                else f"arn:aws:appmesh:{snapshot.region}:{snapshot.account}:mesh/{snapshot.name}/virtualService/{target}"
            )
            backends.append({**backend, "virtualService": service})
        obj("VirtualNode", name, {**spec, **({"backends": backends} if backends else {})})
    for name, spec in sorted(snapshot.virtual_routers.items()):
        routes = []
        for route_name, route in sorted((snapshot.routes.get(name) or {}).items()):
            body = dict(route)
            for route_type in ROUTE_TYPES:
                if route_type in body:
                    part = dict(body[route_type])
                    action = dict(part.get("action") or {})
                    action["weightedTargets"] = [
                        {
                            **{k: v for k, v in t.items() if k != "virtualNode"},
                            **(
                                {"virtualNodeRef": ref("VirtualNode", t["virtualNode"])}
                                if t["virtualNode"] in snapshot.virtual_nodes
                                else {
                                    "virtualNodeARN": f"arn:aws:appmesh:{snapshot.region}:{snapshot.account}:mesh/"
                                    f"{snapshot.name}/virtualNode/{t['virtualNode']}"
                                }
                            ),
                        }
                        for t in action.get("weightedTargets") or []
                    ]
                    part["action"] = action
                    body[route_type] = part
            routes.append({"name": route_name, **body})
        obj("VirtualRouter", name, {**spec, **({"routes": routes} if routes else {})})
    for name, spec in sorted(snapshot.virtual_services.items()):
        provider = dict(spec.get("provider") or {})
        if "virtualNode" in provider:
            provider["virtualNode"] = {"virtualNodeRef": ref("VirtualNode", provider["virtualNode"]["virtualNodeName"])}
        if "virtualRouter" in provider:
            provider["virtualRouter"] = {
                "virtualRouterRef": ref("VirtualRouter", provider["virtualRouter"]["virtualRouterName"])
            }
        obj("VirtualService", name, {**spec, **({"provider": provider} if provider else {})})
    for name, spec in sorted(snapshot.virtual_gateways.items()):
        obj(
            "VirtualGateway",
            name,
            {
                **spec,
                "namespaceSelector": selector,
                "gatewayRouteSelector": {"matchLabels": {GATEWAY_LABEL: names("VirtualGateway", name)}},
            },
        )
    for gateway, routes in sorted(snapshot.gateway_routes.items()):
        for name, spec in sorted(routes.items()):
            body = dict(spec)
            for route_type in ROUTE_TYPES:
                if route_type in body:
                    part = dict(body[route_type])
                    action = dict(part.get("action") or {})
                    target = dict(action.get("target") or {})
                    service = dict(target.get("virtualService") or {})
                    if "virtualServiceName" in service:
                        service["virtualServiceRef"] = ref("VirtualService", service.pop("virtualServiceName"))
                        target["virtualService"] = service
                    action["target"] = target
                    part["action"] = action
                    body[route_type] = part
            obj("GatewayRoute", name, body, labels={GATEWAY_LABEL: names("VirtualGateway", gateway)})
    return documents
