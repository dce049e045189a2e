"""`appmesh-local apply -f` and `appmesh-local delete -f`: templates and manifests against a server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from ..clients import DEFAULT_ACCOUNT, DEFAULT_REGION
from .errors import ApplyError
from .report import Report, printer


def _pairs(values: list[str], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ApplyError(f"{option} takes NAME=VALUE, got {value!r}")
        found[key] = rest
    return found


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        type=Path,
        metavar="FILE_OR_DIR",
        help="a template, a manifest file, or a directory of them (repeatable)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (create, update, replace, delete, unchanged, skip per resource); change nothing",
    )
    parser.add_argument("--stack-name", help="the stack a template is applied as (default: the file's stem)")
    parser.add_argument(
        "--endpoint",
        help="appmesh-local's endpoint (default: the App Mesh endpoint your AWS "
        "configuration names, else http://127.0.0.1:4600; never real AWS)",
    )
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"region (default {DEFAULT_REGION})")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help=f"account, 12 digits (default {DEFAULT_ACCOUNT})")


def register(commands: Any) -> None:
    """Add `apply` and `delete` to the CLI's subparsers."""
    apply = commands.add_parser(
        "apply",
        help="create or update App Mesh resources from CloudFormation templates or Kubernetes manifests",
        description="Apply CloudFormation templates (AWS::AppMesh::*, AWS::ServiceDiscovery::*, ACM, ACM PCA; "
        "other types are listed as skipped) as stacks, and App Mesh controller manifests "
        "(appmesh.k8s.aws/v1beta2) as the controller would, against a running appmesh-local.",
    )
    _common(apply)
    apply.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter's value (repeatable)",
    )
    apply.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the value of an Fn::ImportValue no stack applied here exports (repeatable)",
    )
    apply.set_defaults(func=lambda args: run(args, delete=False))
    delete = commands.add_parser(
        "delete",
        help="delete what `apply -f` made from these templates (their stacks) or manifests",
        description="Delete the stacks of the given templates (every resource they made, in reverse order) and "
        "the App Mesh resources of the given manifests.",
    )
    _common(delete)
    delete.set_defaults(func=lambda args: run(args, delete=True))


def run(args: argparse.Namespace, delete: bool, out: Callable[[str], None] | None = None) -> int:
    prog = f"appmesh-local {'delete' if delete else 'apply'}"
    emit = out or printer(sys.stdout)
    reports: list[Report] = []
    try:
        reports_made = execute(args, delete, emit, reports)
    except ApplyError as exc:
        for report in reports:
            emit(report.summary())
        print(f"{prog}: error: {exc}", file=sys.stderr)
        if (
            any(step.action not in ("unchanged", "skip") for report in reports for step in report.steps)
            and not args.dry_run
        ):
            print(f"{prog}: the steps above were applied and are kept; fix the error and run it again", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        print(f"{prog}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    for report in reports_made:
        emit(report.summary())
    return 0


def execute(args: argparse.Namespace, delete: bool, emit: Callable[[str], None], reports: list[Report]) -> list[Report]:
    """Read the inputs, then apply (or delete) each template as a stack and the manifests as one set."""
    from ..clients import default_endpoint
    from .cfn.stack import StackApply, StackDelete, StackOptions, stack_name_for
    from .documents import read_inputs
    from .kubernetes.engine import apply_manifests, delete_manifests
    from .target import Target

    if not (len(args.account) == 12 and args.account.isdigit()):
        raise ApplyError(f"--account must be 12 digits, got {args.account!r}")
    parameters = _pairs(getattr(args, "parameter", []), "--parameter")
    imports = _pairs(getattr(args, "imports", []), "--import")
    inputs = read_inputs(list(args.files))
    if not inputs.templates and not inputs.manifests:
        raise ApplyError(f"no template or manifest in {', '.join(map(str, args.files))}")
    if args.stack_name and len(inputs.templates) > 1:
        raise ApplyError(f"--stack-name names one stack, but {len(inputs.templates)} templates were given")
    for ignored in inputs.ignored:
        emit(f"ignored {ignored}")
    target = Target(args.endpoint or default_endpoint(args.region), args.account, args.region)
    templates = list(reversed(inputs.templates)) if delete else inputs.templates
    if delete and inputs.manifests:
        report = Report("manifests", dry_run=args.dry_run, emit=emit)
        reports.append(report)
        emit(f"manifests ({len(inputs.manifests)} objects):")
        delete_manifests(inputs.manifests, target, report, args.dry_run)
    unused = sorted(set(parameters) - {name for t in inputs.templates for name in t.parameters})
    if unused and len(inputs.templates) > 1:
        raise ApplyError(f"no template has parameter(s) {unused}")
    for template in templates:
        stack = stack_name_for(template, args.stack_name)
        if len(inputs.templates) > 1:
            parameters_of = {k: v for k, v in parameters.items() if k in template.parameters}
        else:
            parameters_of = parameters
        report = Report(f"stack {stack}", dry_run=args.dry_run, emit=emit)
        reports.append(report)
        emit(f"stack {stack} ({template.name}):")
        if delete:
            StackDelete(target, stack, report, args.dry_run, template.name).delete()
        else:
            StackApply(template, target, StackOptions(stack, parameters_of, imports, args.dry_run), report).apply()
    if not delete and inputs.manifests:
        report = Report("manifests", dry_run=args.dry_run, emit=emit)
        reports.append(report)
        emit(f"manifests ({len(inputs.manifests)} objects):")
        apply_manifests(inputs.manifests, target, report, args.dry_run)
    return reports
