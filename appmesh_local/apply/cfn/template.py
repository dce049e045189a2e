"""A CloudFormation template as read from its file: sections checked, references and order known.

Decoding (YAML short forms such as `!Ref`, JSON, line numbers) is cfn-lint's, the
library AWS maintains for exactly this. What CloudFormation would refuse before
touching anything is refused here too, with the logical id and field: a `Ref` or
`Fn::GetAtt` to a logical id the template does not have, a `DependsOn` on a missing
resource, a dependency cycle ("Circular dependency between resources").
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import ApplyError

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::Region",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::Partition",
        "AWS::URLSuffix",
        "AWS::NoValue",
        "AWS::NotificationARNs",
    }
)
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
SECTIONS = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Rules",
        "Mappings",
        "Conditions",
        "Transform",
        "Resources",
        "Outputs",
        "Hooks",
    }
)


@dataclass(frozen=True)
class ResourceEntry:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...]
    condition: str | None
    line: int | None  # 1-based, where the resource starts in its file


@dataclass
class Template:
    path: Path
    body: Mapping[str, Any]
    resources: dict[str, ResourceEntry] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.body.get("Parameters") or {}

    @property
    def conditions(self) -> Mapping[str, Any]:
        return self.body.get("Conditions") or {}

    @property
    def mappings(self) -> Mapping[str, Any]:
        return self.body.get("Mappings") or {}

    @property
    def outputs(self) -> Mapping[str, Any]:
        return self.body.get("Outputs") or {}

    def where(self, resource: str | None) -> str | None:
        """`LogicalId (line N)`: how errors name a resource of this file."""
        entry = self.resources.get(resource or "")
        return f"{resource} (line {entry.line})" if entry is not None and entry.line else resource

    def error(self, message: str, resource: str | None = None, field_path: str | None = None) -> ApplyError:
        return ApplyError(message, file=self.name, resource=self.where(resource), field=field_path)

    # ---- order -----------------------------------------------------------------------------
    def dependencies(self, logical_id: str) -> set[str]:
        """Resources `logical_id` needs first: its DependsOn, and every Ref/GetAtt/Sub it makes."""
        entry = self.resources[logical_id]
        found = set(entry.depends_on)
        found.update(name for name, _ in references(entry.properties) if name in self.resources)
        return found

    def order(self) -> list[str]:
        """Logical ids in an order that creates every dependency first (template order otherwise)."""
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for logical_id in self.resources:
            sorter.add(logical_id, *sorted(self.dependencies(logical_id)))
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = list(dict.fromkeys(exc.args[1]))
            raise self.error(
                f"Circular dependency between resources: [{', '.join(sorted(cycle))}] "
                f"({' -> '.join(exc.args[1][::-1])})",
                resource=cycle[0],
            ) from None
        position = {name: index for index, name in enumerate(self.resources)}
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered


def references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(name, path) of every Ref, Fn::GetAtt and Fn::Sub variable in `value` (names may be
    parameters, pseudo parameters or logical ids)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and isinstance(arg, str):
                yield arg, path
                return
            if key == "Fn::GetAtt":
                target = _getatt_target(arg)
                if target:
                    yield target, path
                return
            if key == "Fn::Sub":
                text, variables = (
                    (arg, {})
                    if isinstance(arg, str)
                    else (arg[0], arg[1])
                    if isinstance(arg, list) and len(arg) == 2
                    else ("", {})
                )
                if isinstance(text, str):
                    for name in SUB_VARIABLE.findall(text):
                        if not name.startswith("!") and name not in (variables or {}):
                            yield name.split(".", 1)[0], path
                if isinstance(variables, Mapping):
                    yield from references(variables, path)
                return
        for key, item in value.items():
            yield from references(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{path}[{index}]")


def _getatt_target(arg: Any) -> str | None:
    if isinstance(arg, str):
        return arg.split(".", 1)[0]
    if isinstance(arg, list) and arg and isinstance(arg[0], str):
        return arg[0]
    return None


def _line(node: Any) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def read_template(path: Path, text: str | None = None) -> Template:
    """Decode and check a template file; ApplyError names what CloudFormation would reject."""
    from cfnlint.decode import decode, decode_str

    try:
        body, problems = decode_str(text) if text is not None else decode(str(path))
    except Exception as exc:  # noqa: BLE001 - decoder errors vary; the user needs one line
        raise ApplyError(f"cannot read the template: {exc}", file=str(path)) from None
    if problems:
        first = problems[0]
        raise ApplyError(f"line {first.linenumber}: {first.message}", file=str(path))
    if not isinstance(body, Mapping):
        raise ApplyError("a template is a mapping with a Resources section", file=str(path))
    return check_template(Template(path=path, body=body))


def check_template(template: Template) -> Template:
    body = template.body
    unknown = sorted(set(body) - SECTIONS)
    if unknown:
        raise template.error(f"unknown top-level section(s) {unknown}")
    if body.get("Transform"):
        raise template.error(
            f"Transform {body['Transform']!r} is not supported: expand it first "
            "(e.g. `sam package` / `aws cloudformation package` output, or `cdk synth`)"
        )
    resources = body.get("Resources")
    if not isinstance(resources, Mapping) or not resources:
        raise template.error("the Resources section is missing or empty")
    for logical_id, entry in resources.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("Type"), str):
            raise template.error("a resource needs a Type", resource=str(logical_id))
        properties = entry.get("Properties") or {}
        if not isinstance(properties, Mapping):
            raise template.error("Properties must be a mapping", resource=str(logical_id), field_path="Properties")
        depends = entry.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise template.error(
                "DependsOn must be a logical id or a list of them", resource=str(logical_id), field_path="DependsOn"
            )
        template.resources[str(logical_id)] = ResourceEntry(
            logical_id=str(logical_id),
            type=entry["Type"],
            properties=properties,
            depends_on=tuple(depends),
            condition=entry.get("Condition"),
            line=_line(logical_id) or _line(entry),
        )
    _check_references(template)
    return template


def _check_references(template: Template) -> None:
    names = set(template.parameters) | PSEUDO_PARAMETERS
    for logical_id, entry in template.resources.items():
        for dependency in entry.depends_on:
            if dependency not in template.resources:
                raise template.error(
                    f"DependsOn names {dependency!r}, which is not a resource of this template",
                    resource=logical_id,
                    field_path="DependsOn",
                )
        if entry.condition is not None and entry.condition not in template.conditions:
            raise template.error(
                f"Condition {entry.condition!r} is not defined in Conditions",
                resource=logical_id,
                field_path="Condition",
            )
        for name, path in references(entry.properties, "Properties"):
            if name not in names and name not in template.resources:
                raise template.error(
                    f"Ref/GetAtt/Sub to {name!r}, which is neither a parameter nor a resource "
                    f"of this template (Unresolved resource dependencies [{name}])",
                    resource=logical_id,
                    field_path=path,
                )
    for output, entry in template.outputs.items():
        for name, path in references(entry, f"Outputs.{output}"):
            if name not in names and name not in template.resources:
                raise template.error(
                    f"Ref/GetAtt/Sub to {name!r}, which is neither a parameter nor a resource", field_path=path
                )
    template.order()  # a cycle is an error before anything is applied
