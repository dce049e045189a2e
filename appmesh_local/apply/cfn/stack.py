"""One stack: create or update it from a template, or delete it, as CloudFormation would.

Resources go in dependency order (DependsOn and every Ref/GetAtt/Sub); each one's
properties are evaluated just before it is applied, so `!GetAtt Mesh.Uid` sees the mesh
just created. The stack's record (what each logical id became, its properties, its
return values, the outputs and exports) lives on the server (`registry.py`) and is
saved after every step: a failed apply leaves what it applied in place and recorded,
and running it again carries on. A changed property that the schema marks create-only
replaces the resource (new one first, old one deleted at the end); resources the
template no longer has are deleted at the end, last created first.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .. import meshops
from ..errors import ApplyError
from ..report import Report
from ..target import Target
from . import schema
from .drivers import Applied, Run, driver_for, has_unknown
from .intrinsics import NO_VALUE, IntrinsicError, Scope, Unknown, evaluate
from .neighbours import REPLACE
from .template import PSEUDO_PARAMETERS, Template

STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
KIND = "cloudformation"


def stack_name_for(template: Template, given: str | None) -> str:
    """--stack-name, else the file's stem made into a valid stack name."""
    name = given or re.sub(r"[^A-Za-z0-9-]+", "-", template.path.name.split(".")[0]).strip("-")
    if not name[:1].isalpha():
        name = f"stack-{name}"
    if not STACK_NAME.fullmatch(name):
        raise ApplyError(
            f"stack name {name!r} is not valid (letters, digits and hyphens, starting with a letter, at most 128)",
            file=template.name,
        )
    return name


@dataclass
class StackOptions:
    stack: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    imports: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False


class StackApply:
    """Create or update one stack from `template` on `target`, reporting each step."""

    def __init__(self, template: Template, target: Target, options: StackOptions, report: Report) -> None:
        self.template, self.target, self.options, self.report = template, target, options, report
        self.run = Run(target, options.stack, options.dry_run)
        self.previous = target.registry.get(options.stack)
        if self.previous is not None and self.previous.get("kind") != KIND:
            raise ApplyError(
                f"{options.stack!r} names a set of applied {self.previous.get('kind')} objects, "
                "not a stack: choose another --stack-name",
                file=template.name,
            )
        self.record: dict[str, Any] = self._start_record()
        self.values = self._parameter_values()
        self.state: dict[str, Applied] = {}
        self.skipped: set[str] = set()
        self.imported: set[str] = set()
        self._conditions: dict[str, bool] = {}
        self._evaluating: list[str] = []
        self._exports: dict[str, tuple[str, Any]] | None = None

    # ---- the record ------------------------------------------------------------------------
    def _start_record(self) -> dict[str, Any]:
        previous = self.previous or {}
        stack_id = previous.get("stackId") or (
            f"arn:aws:cloudformation:{self.target.region}:{self.target.account}:"
            f"stack/{self.options.stack}/{uuid.uuid4()}"
        )
        return {
            "kind": KIND,
            "name": self.options.stack,
            "stackId": stack_id,
            "file": self.template.name,
            "resources": dict(previous.get("resources") or {}),
            "outputs": dict(previous.get("outputs") or {}),
            "exports": dict(previous.get("exports") or {}),
            "imports": list(previous.get("imports") or []),
            "parameters": dict(previous.get("parameters") or {}),
            "next": int(previous.get("next", 0)),
        }

    def _save(self) -> None:
        if not self.options.dry_run:
            self.target.registry.put(self.options.stack, self.record)

    # ---- parameters and conditions ---------------------------------------------------------
    def _parameter_values(self) -> dict[str, Any]:
        given = dict(self.options.parameters)
        unknown = sorted(set(given) - set(self.template.parameters))
        if unknown:
            raise self.template.error(
                f"the template has no parameter(s) {unknown} (it has: {', '.join(self.template.parameters) or 'none'})"
            )
        previous = (self.previous or {}).get("parameters") or {}
        values: dict[str, Any] = {}
        for name, spec in self.template.parameters.items():
            spec = spec if isinstance(spec, Mapping) else {}
            kind = str(spec.get("Type", "String"))
            if name in given:
                raw: Any = given[name]
            elif "Default" in spec:
                raw = spec["Default"]
            elif name in previous:
                raw = previous[name]
            else:
                reads = " (it names an SSM parameter, which appmesh-local cannot read)" if "SSM" in kind else ""
                raise self.template.error(
                    f"parameter {name} has no value and no Default{reads}: give --parameter {name}=VALUE"
                )
            values[name] = _parameter(name, spec, kind, raw, self.template)
        self.record["parameters"] = {k: (",".join(v) if isinstance(v, list) else v) for k, v in values.items()}
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise IntrinsicError("", f"condition {name!r} is not defined in Conditions")
            if name in self._evaluating:
                raise IntrinsicError(f"Conditions.{name}", f"condition {name!r} refers to itself")
            self._evaluating.append(name)
            try:
                value = evaluate(self.template.conditions[name], self.scope(), f"Conditions.{name}")
            finally:
                self._evaluating.pop()
            if not isinstance(value, bool):
                raise IntrinsicError(f"Conditions.{name}", "a condition must be Fn::Equals/And/Or/Not or Condition")
            self._conditions[name] = value
        return self._conditions[name]

    # ---- names -----------------------------------------------------------------------------
    def scope(self) -> Scope:
        return Scope(
            ref=self._ref,
            get_att=self._get_att,
            condition=self.condition,
            import_value=self._import,
            mappings=self.template.mappings,
            region=self.target.region,
        )

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.target.account,
            "AWS::Region": self.target.region,
            "AWS::StackName": self.options.stack,
            "AWS::StackId": self.record["stackId"],
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }[name]

    def _ref(self, name: str) -> Any:
        if name in PSEUDO_PARAMETERS:
            return self._pseudo(name)
        if name in self.values:
            return self.values[name]
        return self._resource(name).physical

    def _get_att(self, name: str, attribute: str) -> Any:
        applied = self._resource(name)
        entry = self.template.resources[name]
        if name not in self.skipped:
            known = schema.attributes(entry.type)
            if attribute not in known:
                raise IntrinsicError(
                    "",
                    f"{name} ({entry.type}) has no attribute {attribute!r} (Fn::GetAtt can read: {', '.join(known)})",
                )
        value = applied.attributes.get(attribute)
        if value is None:
            if self.options.dry_run:
                return Unknown(f"{name}.{attribute}")
            raise IntrinsicError("", f"{name}.{attribute} has no value")
        return value

    def _resource(self, name: str) -> Applied:
        if name not in self.template.resources:
            raise IntrinsicError("", f"{name!r} is neither a parameter nor a resource of this template")
        if name not in self.state:
            raise IntrinsicError(
                "", f"resource {name} is not created: its Condition {self.template.resources[name].condition} is false"
            )
        if name in self.skipped:
            self.report.warn(
                f"a value comes from {name} ({self.template.resources[name].type}), which apply "
                f"skips: the stand-in {name!r} is used"
            )
        return self.state[name]

    def _import(self, export: str) -> Any:
        self.imported.add(export)
        if export in self.options.imports:
            return self.options.imports[export]
        if self._exports is None:
            self._exports = self.target.registry.exports(excluding=self.options.stack)
        if export in self._exports:
            return self._exports[export][1]
        if self.options.dry_run:  # a stack earlier in this run would export it: known after apply
            self.report.warn(f"Fn::ImportValue {export!r}: no stack applied here exports it yet")
            return Unknown(f"import {export}")
        raise IntrinsicError(
            "",
            f"Fn::ImportValue: no stack applied here exports {export!r}; "
            f"apply the stack that exports it first, or give --import {export}=VALUE",
        )

    # ---- apply ------------------------------------------------------------------------------
    def apply(self) -> dict[str, Any]:
        """Apply every resource, delete what the template dropped, evaluate outputs; return the record."""
        retired: list[tuple[str, Mapping[str, Any]]] = []
        for logical_id in self.template.order():
            entry = self.template.resources[logical_id]
            if entry.condition is not None and not self._guarded(
                logical_id, "Condition", self.condition, entry.condition
            ):
                continue
            driver = driver_for(entry.type)
            if driver is None:
                self.skipped.add(logical_id)
                self.state[logical_id] = Applied("skip", "", logical_id, _StandIns(logical_id))
                self.report.add("skip", logical_id, entry.type, _skip_reason(entry.type))
                continue
            properties = self._guarded(logical_id, "", evaluate, entry.properties, self.scope(), "Properties")
            previous = self.record["resources"].get(logical_id)
            if previous is not None and previous.get("type") != entry.type:
                retired.append((logical_id, previous))
                previous = None
            replace_reason = self._replacement(entry.type, previous, properties)
            if replace_reason:
                retired.append((logical_id, previous))  # type: ignore[arg-type]
                previous = None
            try:
                applied = self._guarded(logical_id, "", driver.apply, self.run, logical_id, properties, previous)
            except REPLACE as exc:
                retired.append((logical_id, previous))  # type: ignore[arg-type]
                replace_reason = ", ".join(exc.changed)
                applied = self._guarded(logical_id, "", driver.apply, self.run, logical_id, properties, None)
            action = "replace" if replace_reason else applied.action
            detail = applied.detail + (f" (replaced: {replace_reason} changed)" if replace_reason else "")
            self.state[logical_id] = applied
            self.report.add(action, logical_id, entry.type, detail)
            if not self.options.dry_run:
                order = previous["order"] if previous is not None else self._next_order()
                self.record["resources"][logical_id] = {
                    "type": entry.type,
                    "physical": applied.physical,
                    "attributes": dict(applied.attributes),
                    "properties": properties,
                    "order": order,
                }
                self._save()
        self._outputs()
        self._retire(retired)
        self.record["imports"] = sorted(self.imported)
        self._save()
        return self.record

    def _next_order(self) -> int:
        self.record["next"] += 1
        return int(self.record["next"])

    def _replacement(self, type_name: str, previous: Mapping[str, Any] | None, properties: Mapping[str, Any]) -> str:
        if previous is None or has_unknown(properties):
            return ""
        changed = sorted(p for p in schema.create_only(type_name) if previous["properties"].get(p) != properties.get(p))
        return ", ".join(changed)

    def _guarded(self, logical_id: str, field_prefix: str, call: Callable[..., Any], *args: Any) -> Any:
        """Run `call(*args)`, turning what it raises into an ApplyError naming the file, resource and field."""
        try:
            return call(*args)
        except IntrinsicError as exc:
            field_path = exc.path or field_prefix or None
            raise self.template.error(str(exc), resource=logical_id, field_path=field_path) from None
        except ApplyError as exc:
            raise exc.located(file=self.template.name, resource=self.template.where(logical_id)) from None
        except meshops.MeshCallError as exc:
            raise self.template.error(f"{exc.code}: {exc.detail}", resource=logical_id) from None

    def _retire(self, retired: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Delete replaced resources and those the template dropped, most recently created first."""
        dropped = [
            (logical_id, entry)
            for logical_id, entry in self.record["resources"].items()
            if logical_id not in self.state or logical_id in self.skipped
        ]
        doomed = retired + dropped
        for logical_id, entry in sorted(doomed, key=lambda item: -int(item[1].get("order", 0))):
            driver = driver_for(entry["type"])
            if driver is None:
                continue
            detail = self._guarded(logical_id, "", driver.delete, self.run, logical_id, entry)
            reason = "replaced" if (logical_id, entry) in retired else "no longer in the template"
            self.report.add("delete", logical_id, entry["type"], f"{detail} ({reason})")
            if not self.options.dry_run and (logical_id, entry) in dropped:
                self.record["resources"].pop(logical_id, None)
                self._save()

    def _outputs(self) -> None:
        outputs: dict[str, Any] = {}
        exports: dict[str, Any] = {}
        taken = None
        for name, output in self.template.outputs.items():
            if not isinstance(output, Mapping) or "Value" not in output:
                raise self.template.error("an output needs a Value", field_path=f"Outputs.{name}")
            condition = output.get("Condition")
            if condition is not None and not self._guarded(f"Outputs.{name}", "", self.condition, condition):
                continue
            value = self._guarded(
                f"Outputs.{name}", "", evaluate, output["Value"], self.scope(), f"Outputs.{name}.Value"
            )
            outputs[name] = value if not isinstance(value, Unknown) else str(value)
            export = output.get("Export")
            if isinstance(export, Mapping) and "Name" in export:
                export_name = self._guarded(
                    f"Outputs.{name}", "", evaluate, export["Name"], self.scope(), f"Outputs.{name}.Export"
                )
                if taken is None:
                    taken = self.target.registry.exports(excluding=self.options.stack)
                if str(export_name) in taken:
                    raise self.template.error(
                        f"Export with name {export_name} is already exported by stack {taken[str(export_name)][0]}",
                        field_path=f"Outputs.{name}.Export",
                    )
                exports[str(export_name)] = outputs[name]
        self.record["outputs"], self.record["exports"] = outputs, exports


class _StandIns(dict):  # type: ignore[type-arg]
    """Return values of a skipped resource: `<LogicalId>.<Attribute>` stand-ins."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return f"{self.logical_id}.{key}"


def _skip_reason(type_name: str) -> str:
    known = "" if schema.known_type(type_name) else " (not a CloudFormation type this cfn-lint knows)"
    return f"not an App Mesh, Cloud Map, ACM or ACM PCA resource: skipped{known}"


def _parameter(name: str, spec: Mapping[str, Any], kind: str, raw: Any, template: Template) -> Any:
    """A parameter's value checked against its declaration (AllowedValues, patterns, bounds)."""
    is_list = kind.startswith("List<") or kind == "CommaDelimitedList"
    text = ",".join(str(v) for v in raw) if isinstance(raw, list) else str(raw)
    items = [item.strip() if kind != "CommaDelimitedList" else item for item in text.split(",")] if is_list else [text]

    def bad(message: str) -> ApplyError:
        return template.error(f"parameter {name}: {message}", field_path=f"Parameters.{name}")

    for item in items:
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in [str(a) for a in allowed]:
            raise bad(f"{item!r} is not one of the AllowedValues {[str(a) for a in allowed]}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), item):
            raise bad(spec.get("ConstraintDescription") or f"{item!r} does not match AllowedPattern {pattern}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            raise bad(f"{item!r} is shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            raise bad(f"{item!r} is longer than MaxLength {spec['MaxLength']}")
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise bad(f"{item!r} is not a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise bad(f"{item} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise bad(f"{item} is above MaxValue {spec['MaxValue']}")
    return items if is_list else text


class StackDelete:
    """Delete every resource a stack made, most recently created first, then its record."""

    def __init__(
        self, target: Target, stack: str, report: Report, dry_run: bool = False, file: str | None = None
    ) -> None:
        self.target, self.stack, self.report, self.dry_run, self.file = target, stack, report, dry_run, file

    def delete(self) -> bool:
        registry = self.target.registry
        record = registry.get(self.stack)
        if record is None or record.get("kind") != KIND:
            self.report.warn(f"stack {self.stack} does not exist here: nothing to delete")
            return False
        users = [
            (document["name"], name)
            for document in registry.all()
            if document.get("kind") == KIND and document.get("name") != self.stack
            for name in document.get("imports") or []
            if name in (record.get("exports") or {})
        ]
        if users:
            stack, export = users[0]
            raise ApplyError(
                f"Export {export} cannot be deleted as it is in use by {stack}",
                file=self.file,
                resource=f"stack {self.stack}",
            )
        run = Run(self.target, self.stack, self.dry_run)
        resources = record.get("resources") or {}
        for logical_id, entry in sorted(resources.items(), key=lambda item: -int(item[1].get("order", 0))):
            driver = driver_for(entry["type"])
            if driver is None:
                continue
            try:
                detail = driver.delete(run, logical_id, entry)
            except ApplyError as exc:
                raise exc.located(file=self.file, resource=logical_id) from None
            self.report.add("delete", logical_id, entry["type"], detail)
            if not self.dry_run:
                resources.pop(logical_id)
                registry.put(self.stack, record)
        if not self.dry_run:
            registry.delete(self.stack)
        return True
