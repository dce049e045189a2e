"""The App Mesh controller's objects and its rules for names and membership.

From aws/aws-app-mesh-controller-for-k8s (v1beta2, `webhooks/appmesh/*_mutator.go`,
`pkg/mesh/membership_designator.go`, `pkg/virtualgateway/membership_designator.go`):

- App Mesh name (`spec.awsName`, when not given): a Mesh is called `<name>`, a
  VirtualService `<name>.<namespace>`, every other kind `<name>_<namespace>`.
- Mesh membership (`spec.meshRef`, set by the webhook): the one Mesh whose
  `namespaceSelector` matches the labels of the object's Namespace.
- A GatewayRoute's VirtualGateway (`spec.virtualGatewayRef`): the one VirtualGateway whose
  `namespaceSelector` matches the route's Namespace and whose `gatewayRouteSelector`
  (everything when absent) matches the route's labels.
- `virtualNodeRef`, `virtualServiceRef`, `virtualRouterRef`, `virtualGatewayRef`: by
  name, in the referring object's namespace unless they give one.

Manifests rarely carry the Namespace objects a cluster already had; where the labels
are unknown (no Namespace object here or applied before), the single candidate mesh
or gateway is taken, and more than one is an error asking for `meshRef` (see docs/apply.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..documents import Manifest
from ..errors import ApplyError

GROUP = "appmesh.k8s.aws"
VERSION = "v1beta2"
MESH_KINDS = ("Mesh", "VirtualNode", "VirtualRouter", "VirtualService", "VirtualGateway", "GatewayRoute")
CLUSTER_SCOPED = ("Mesh", "Namespace")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class KObject:
    """One object: kind, namespace, name, labels, spec; where it came from (None: applied earlier)."""

    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    file: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @property
    def aws_name(self) -> str:
        given = self.spec.get("awsName")
        if isinstance(given, str) and given:
            return given
        if self.kind == "Mesh":
            return self.name
        if self.kind == "VirtualService":
            return f"{self.name}.{self.namespace}"
        return f"{self.name}_{self.namespace}"

    def error(self, message: str, field_path: str | None = None) -> ApplyError:
        return ApplyError(message, file=self.file, resource=self.key, field=field_path)

    def as_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "labels": dict(self.labels),
            "spec": dict(self.spec),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> KObject:
        return cls(
            record["kind"], record["namespace"], record["name"], record.get("labels") or {}, record.get("spec") or {}
        )


def read_object(manifest: Manifest) -> KObject | None:
    """An App Mesh object or Namespace from a manifest; None for other kinds (they are skipped)."""
    body = manifest.body
    where = f"{manifest.file} (document {manifest.index})"
    kind = str(body.get("kind"))
    api = str(body.get("apiVersion"))
    metadata = body.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if kind == "Namespace" and api == "v1":
        pass
    elif api.startswith(f"{GROUP}/"):
        if api != f"{GROUP}/{VERSION}":
            raise ApplyError(
                f"{api} is not supported: the controller's last API is {GROUP}/{VERSION}",
                file=where,
                resource=f"{kind}/{name}",
            )
        if kind not in MESH_KINDS:
            if kind == "BackendGroup":
                return None
            raise ApplyError(
                f"{GROUP} has no kind {kind!r} (it has: {', '.join(MESH_KINDS)}, BackendGroup)",
                file=where,
                resource=f"{kind}/{name}",
            )
    else:
        return None
    if not isinstance(name, str) or not name:
        raise ApplyError("metadata.name is missing", file=where, resource=kind, field="metadata.name")
    namespace = "" if kind in CLUSTER_SCOPED else str(metadata.get("namespace") or DEFAULT_NAMESPACE)
    labels = metadata.get("labels") or {}
    spec = body.get("spec") or {}
    if not isinstance(labels, Mapping) or not isinstance(spec, Mapping):
        raise ApplyError("metadata.labels and spec must be mappings", file=where, resource=f"{kind}/{name}")
    return KObject(kind, namespace, name, {str(k): str(v) for k, v in labels.items()}, spec, file=where)


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: matchLabels and matchExpressions; an absent selector matches
    nothing, an empty one everything."""
    if selector is None:
        return False
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = str(expression.get("key")), str(expression.get("operator"))
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass
class Objects:
    """Every object `apply` knows: this run's manifests over those applied earlier."""

    by_key: dict[str, KObject] = field(default_factory=dict)
    namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)  # namespace → labels

    def add(self, obj: KObject) -> None:
        if obj.kind == "Namespace":
            self.namespaces[obj.name] = obj.labels
        else:
            self.by_key[obj.key] = obj

    def of_kind(self, kind: str) -> list[KObject]:
        return [obj for obj in self.by_key.values() if obj.kind == kind]

    def find(self, referrer: KObject, kind: str, ref: Any, field_path: str) -> KObject:
        """The object a `*Ref` names (its namespace defaulting to the referrer's)."""
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
            raise referrer.error("a reference needs a name", field_path)
        namespace = "" if kind in CLUSTER_SCOPED else str(ref.get("namespace") or referrer.namespace)
        key = f"{kind}/{namespace}/{ref['name']}" if namespace else f"{kind}/{ref['name']}"
        found = self.by_key.get(key)
        if found is None:
            raise referrer.error(f"{key} not found (neither in these manifests nor applied before)", field_path)
        return found

    def mesh_of(self, obj: KObject) -> KObject:
        """The Mesh an object belongs to: its meshRef, else the controller's namespace selection."""
        if obj.spec.get("meshRef") is not None:
            return self.find(obj, "Mesh", obj.spec["meshRef"], "spec.meshRef")
        meshes = self.of_kind("Mesh")
        labels = self.namespaces.get(obj.namespace)
        if labels is not None:
            matching = [m for m in meshes if selector_matches(m.spec.get("namespaceSelector"), labels)]
            if len(matching) == 1:
                return matching[0]
            if not matching:
                raise obj.error(
                    f"failed to find matching mesh for namespace: {obj.namespace}, expecting 1 but "
                    f"found 0 (no Mesh's namespaceSelector matches its labels {dict(labels)})"
                )
            raise obj.error(
                f"found multiple matching meshes for namespace: {obj.namespace}, expecting 1 but found "
                f"{len(matching)}: {','.join(sorted(m.name for m in matching))}"
            )
        if len(meshes) == 1:
            return meshes[0]
        raise obj.error(
            f"cannot tell which mesh it belongs to: namespace {obj.namespace} is not among these "
            f"manifests and {len(meshes)} meshes are known; give spec.meshRef or the Namespace"
        )

    def gateway_of(self, route: KObject) -> KObject:
        """A GatewayRoute's VirtualGateway: its virtualGatewayRef, else the controller's selection."""
        if route.spec.get("virtualGatewayRef") is not None:
            return self.find(route, "VirtualGateway", route.spec["virtualGatewayRef"], "spec.virtualGatewayRef")
        labels = self.namespaces.get(route.namespace)
        candidates = []
        for gateway in self.of_kind("VirtualGateway"):
            if labels is not None and not selector_matches(gateway.spec.get("namespaceSelector"), labels):
                continue
            route_selector = gateway.spec.get("gatewayRouteSelector")
            if route_selector is not None and not selector_matches(route_selector, route.labels):
                continue
            candidates.append(gateway)
        if len(candidates) == 1:
            return candidates[0]
        names = ",".join(sorted(g.key for g in candidates))
        raise route.error(
            f"failed to find matching virtualGateway for gatewayRoute: {route.name}, expecting 1 but "
            f"found {len(candidates)}{': ' + names if names else ''}; give spec.virtualGatewayRef "
            "or the Namespace whose labels a gateway's namespaceSelector matches"
        )


def objects_from(records: Iterable[Mapping[str, Any]], namespaces: Mapping[str, Mapping[str, str]]) -> Objects:
    known = Objects()
    for record in records:
        known.add(KObject.from_record(record))
    known.namespaces.update(namespaces)
    return known
