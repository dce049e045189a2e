"""CloudFormation's intrinsic functions, evaluated as CloudFormation does at deploy time.

`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If`,
`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`, `Fn::ImportValue`,
`Fn::FindInMap`, `Fn::Base64` and `Fn::GetAZs`. `Ref: AWS::NoValue` removes the property
that holds it. A value known only after something is created (a new resource's Uid in a
`--dry-run`) is an `Unknown`, and anything computed from it is Unknown too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .template import SUB_VARIABLE

SUPPORTED = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Condition",
        "Fn::ImportValue",
        "Fn::FindInMap",
        "Fn::Base64",
        "Fn::GetAZs",
    }
)
# Real intrinsics that appmesh-local does not evaluate (none is useful to a mesh template).
NOT_SUPPORTED = frozenset(
    {"Fn::Cidr", "Fn::Transform", "Fn::Length", "Fn::ToJsonString", "Fn::ForEach", "Fn::GetStackOutput"}
)


class IntrinsicError(ValueError):
    """A function that cannot be evaluated; `path` is where in the resource it sits."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Unknown:
    """A value known only once something has been created (shown as `(known after apply)`)."""

    what: str

    def __str__(self) -> str:
        return f"(known after apply: {self.what})"


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass
class Scope:
    """Where names come from while evaluating one template."""

    ref: Callable[[str], Any]  # a parameter, pseudo parameter or logical id → its Ref value
    get_att: Callable[[str, str], Any]  # (logical id, attribute) → value
    condition: Callable[[str], bool]  # a condition's name → its value
    import_value: Callable[[str], Any]  # an export's name → its value
    mappings: Mapping[str, Any]
    region: str


def evaluate(value: Any, scope: Scope, path: str = "") -> Any:
    """`value` with every intrinsic function replaced by its result; NO_VALUE entries dropped."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in SUPPORTED:
                return _call(str(key), arg, scope, path)
            if isinstance(key, str) and key.startswith("Fn::"):
                if key in NOT_SUPPORTED:
                    raise IntrinsicError(path, f"{key} is not supported by appmesh-local apply")
                raise IntrinsicError(
                    path,
                    f"unknown intrinsic function {key!r} "
                    f"(CloudFormation has: {', '.join(sorted(SUPPORTED - {'Condition'}))})",
                )
        result = {}
        for key, item in value.items():
            evaluated = evaluate(item, scope, f"{path}.{key}" if path else str(key))
            if evaluated is not NO_VALUE:
                result[str(key)] = evaluated
        return result
    if isinstance(value, list):
        items = [evaluate(item, scope, f"{path}[{index}]") for index, item in enumerate(value)]
        return [item for item in items if item is not NO_VALUE]
    if isinstance(value, str):
        return str(value)  # cfn-lint's str_node → plain str
    return value


def _call(name: str, arg: Any, scope: Scope, path: str) -> Any:
    try:
        return _apply_function(name, arg, scope, path)
    except IntrinsicError as exc:
        if exc.path:
            raise
        raise IntrinsicError(path, str(exc)) from None  # a name that did not resolve: say where it was


def _apply_function(name: str, arg: Any, scope: Scope, path: str) -> Any:
    where = f"{path}.{name}" if path else name
    if name == "Ref":
        if not isinstance(arg, str):
            raise IntrinsicError(where, "Ref takes a name")
        return scope.ref(arg)
    if name == "Fn::GetAtt":
        target, attribute = _getatt_args(arg, where, scope)
        return scope.get_att(target, attribute)
    if name == "Fn::Sub":
        return _sub(arg, scope, where)
    if name == "Fn::Join":
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise IntrinsicError(where, "Fn::Join takes [delimiter, [values]]")
        items = evaluate(arg[1], scope, where)
        if isinstance(items, Unknown):
            return items
        if not isinstance(items, list):
            raise IntrinsicError(where, "Fn::Join's second argument must be a list")
        unknown = next((item for item in items if isinstance(item, Unknown)), None)
        if unknown is not None:
            return unknown
        return arg[0].join(_text(item, where) for item in items)
    if name == "Fn::Select":
        if not (isinstance(arg, list) and len(arg) == 2):
            raise IntrinsicError(where, "Fn::Select takes [index, list]")
        index, items = evaluate(arg[0], scope, where), evaluate(arg[1], scope, where)
        if isinstance(items, Unknown) or isinstance(index, Unknown):
            return items if isinstance(items, Unknown) else index
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise IntrinsicError(where, f"Fn::Select index {index!r} is not a number") from None
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise IntrinsicError(where, f"Fn::Select index {position} is out of range")
        return items[position]
    if name == "Fn::Split":
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise IntrinsicError(where, "Fn::Split takes [delimiter, string]")
        source = evaluate(arg[1], scope, where)
        if isinstance(source, Unknown):
            return source
        return _text(source, where).split(arg[0])
    if name == "Fn::If":
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise IntrinsicError(where, "Fn::If takes [condition, value if true, value if false]")
        return evaluate(arg[1] if scope.condition(arg[0]) else arg[2], scope, where)
    if name == "Fn::Equals":
        if not (isinstance(arg, list) and len(arg) == 2):
            raise IntrinsicError(where, "Fn::Equals takes [value, value]")
        left, right = (evaluate(item, scope, where) for item in arg)
        return _text(left, where) == _text(right, where) if not isinstance(left, list) else left == right
    if name in ("Fn::Not", "Fn::And", "Fn::Or"):
        if not isinstance(arg, list) or not arg or (name == "Fn::Not" and len(arg) != 1):
            raise IntrinsicError(where, f"{name} takes a list of conditions")
        values = [_boolean(evaluate(item, scope, where), where) for item in arg]
        return not values[0] if name == "Fn::Not" else all(values) if name == "Fn::And" else any(values)
    if name == "Condition":
        if not isinstance(arg, str):
            raise IntrinsicError(where, "Condition takes a condition's name")
        return scope.condition(arg)
    if name == "Fn::ImportValue":
        export = evaluate(arg, scope, where)
        if isinstance(export, Unknown):
            return export
        return scope.import_value(_text(export, where))
    if name == "Fn::FindInMap":
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise IntrinsicError(where, "Fn::FindInMap takes [map, top-level key, second-level key]")
        keys = [_text(evaluate(item, scope, where), where) for item in arg[:3]]
        try:
            return scope.mappings[keys[0]][keys[1]][keys[2]]
        except (KeyError, TypeError):
            raise IntrinsicError(where, f"Mappings has no {'/'.join(keys)}") from None
    if name == "Fn::Base64":
        text = evaluate(arg, scope, where)
        return text if isinstance(text, Unknown) else base64.b64encode(_text(text, where).encode()).decode()
    if name == "Fn::GetAZs":
        region = evaluate(arg, scope, where) or scope.region
        return [f"{region}{zone}" for zone in "abc"]
    raise IntrinsicError(where, f"unknown intrinsic function {name!r}")  # pragma: no cover - SUPPORTED is exhaustive


def _getatt_args(arg: Any, where: str, scope: Scope) -> tuple[str, str]:
    if isinstance(arg, str) and "." in arg:
        target, attribute = arg.split(".", 1)
        return target, attribute
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
        attribute = evaluate(arg[1], scope, where)
        if isinstance(attribute, str):
            return arg[0], attribute
    raise IntrinsicError(where, "Fn::GetAtt takes [logicalId, attribute] or 'logicalId.attribute'")


def _sub(arg: Any, scope: Scope, where: str) -> Any:
    if isinstance(arg, str):
        text, variables = arg, {}
    elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], Mapping):
        text, variables = arg[0], {str(k): evaluate(v, scope, f"{where}.{k}") for k, v in arg[1].items()}
    else:
        raise IntrinsicError(where, "Fn::Sub takes a string or [string, {variables}]")
    unknown: list[Unknown] = []

    def replace(match: Any) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            value = variables[name]
        elif "." in name and not name.startswith("AWS::"):
            target, attribute = name.split(".", 1)
            value = scope.get_att(target, attribute)
        else:
            value = scope.ref(name)
        if isinstance(value, Unknown):
            unknown.append(value)
            return ""
        return _text(value, where)

    result = SUB_VARIABLE.sub(replace, text)
    return unknown[0] if unknown else result


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, Unknown):
        return str(value)
    raise IntrinsicError(where, f"expected a string here, got {type(value).__name__}")


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise IntrinsicError(where, "expected a condition (true or false)")
