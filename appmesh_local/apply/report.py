"""What an apply did (or, with --dry-run, would do), one line per resource, as it happens."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, TextIO

ACTIONS = ("create", "update", "replace", "delete", "unchanged", "skip")


@dataclass(frozen=True)
class Step:
    action: str  # one of ACTIONS
    resource: str  # logical id, or Kind/namespace/name
    kind: str  # AWS::AppMesh::Route, or the App Mesh kind a manifest became
    detail: str = ""  # what it is on the server, what changes


@dataclass
class Report:
    """Steps and warnings of one stack or manifest set; `emit` prints each line when it is added."""

    title: str
    dry_run: bool = False
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    emit: Callable[[str], None] | None = None

    def add(self, action: str, resource: str, kind: str, detail: str = "") -> Step:
        step = Step(action, resource, kind, detail)
        self.steps.append(step)
        if self.emit:
            self.emit(self.line(step))
        return step

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            if self.emit:
                self.emit(f"  warning: {message}")

    def line(self, step: Step) -> str:
        verb = step.action if not self.dry_run or step.action in ("unchanged", "skip") else f"{step.action}?"
        return f"  {verb:<10} {step.resource:<34} {step.kind:<36} {step.detail}".rstrip()

    def count(self, action: str) -> int:
        return sum(1 for step in self.steps if step.action == action)

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(a)} {'to ' + a if self.dry_run and a not in ('unchanged', 'skip') else a}"
            for a in ("create", "update", "replace", "delete", "unchanged", "skip")
            if self.count(a)
        )
        return f"{self.title}: {counts or 'nothing to do'}" + (" (dry run: nothing changed)" if self.dry_run else "")


def printer(stream: TextIO = sys.stdout) -> Callable[[str], None]:
    def emit(text: str) -> None:
        print(text, file=stream, flush=True)

    return emit
