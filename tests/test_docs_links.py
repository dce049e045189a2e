"""Every file path and doc anchor the repository names resolves inside the repository.

Docs and code comments cite their evidence: a test that pins a behaviour (`tests/api/test_names.py`),
a fact with its source (`docs/reference.md#retries`), another document. A citation that points
nowhere (a renamed test, a deleted section, design notes outside the repository) is a broken
promise to the next reader: this test finds them in README.md, docs/ and every .py file.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("README.md", "docs", "appmesh_local", "tests", "benchmarks", "docker", ".ci")
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ""}
# Inputs others wrote (templates, golden outputs, fixtures) and examples for the user's own repository.
SKIPPED = ("tests/apply/material", "tests/translate/golden", "tests/store/fixtures", "docs/examples")
# Where tests and benchmarks write their results (git-ignored): named, never committed.
OUTPUTS = ("benchmarks/results", "tests/e2e/artifacts")

# A repository path: a top-level directory of ours, then path characters, ending in a file or a '/'.
PATH = re.compile(r"(?<![\w/.-])((?:tests|docs|appmesh_local|benchmarks|docker)/[\w./*-]*[\w*/])(?:::(\w+))?")
# `docs/x.md#anchor` (anywhere) and relative `(x.md#anchor)` markdown links (in docs/), with
# further `#anchor`s of the same document after a comma: `docs/reference.md#retries, #timeouts`.
ANCHORED = re.compile(r"(?:(?<=\()|(?<![\w/.-]))((?:docs/)?[\w-]+\.md)((?:#[\w-]+)(?:,\s*#[\w-]+)*)")
OUTSIDE = re.compile(r"§|shared/reference|reference/appmesh-envoy|shared/DESIGN|shared/STYLE")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            relative = file.relative_to(ROOT).as_posix()
            if file.suffix in TEXT_SUFFIXES and not relative.startswith(SKIPPED) and "__pycache__" not in relative:
                files.append(file)
    return files


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(document: Path) -> set[str]:
    text = document.read_text()
    found = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    found.update(slug(h) for h in re.findall(r"^#+\s+(.+)$", text, re.M))
    return found


def test_every_named_path_and_test_exists() -> None:
    missing: list[str] = []
    for file in scanned_files():
        if file == Path(__file__):
            continue
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            for path, test_name in PATH.findall(line):
                if "<" in path or "{" in path or path.startswith(OUTPUTS):
                    continue  # a placeholder such as docs/<file>.md, or where a run writes its output
                target = path.rstrip(".")
                if "*" in target:
                    ok = any(ROOT.glob(target))
                else:
                    ok = (ROOT / target).exists()
                if ok and test_name and target.endswith(".py"):
                    ok = re.search(rf"^(async )?def {test_name}\b", (ROOT / target).read_text(), re.M) is not None
                if not ok:
                    where = f"{file.relative_to(ROOT)}:{number}"
                    missing.append(f"{where}: {path}" + (f"::{test_name}" if test_name else ""))
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)


def test_every_doc_anchor_exists() -> None:
    broken: list[str] = []
    cache: dict[Path, set[str]] = {}
    for file in scanned_files():
        if file == Path(__file__):
            continue
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            for document, anchors in ANCHORED.findall(line):
                base = ROOT if document.startswith("docs/") else file.parent
                target = (base / document).resolve()
                if not target.exists() and not document.startswith("docs/"):
                    target = (ROOT / "docs" / document).resolve()
                if not target.exists():
                    broken.append(f"{file.relative_to(ROOT)}:{number}: {document} does not exist")
                    continue
                known = cache.setdefault(target, anchors_of(target))
                for anchor in re.findall(r"#([\w-]+)", anchors):
                    if anchor not in known:
                        broken.append(f"{file.relative_to(ROOT)}:{number}: {document}#{anchor}")
    assert not broken, "anchors that resolve nowhere:\n" + "\n".join(broken)


def test_no_citation_points_outside_the_repository() -> None:
    """Design notes that live outside the repository cannot be cited: their facts are in docs/reference.md."""
    outside = [
        f"{file.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for file in scanned_files()
        if file != Path(__file__)
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not outside, "citations of notes outside the repository:\n" + "\n".join(outside)


def test_the_checker_sees_what_it_must() -> None:
    """Guard against a checker that matches nothing: known citations are found."""
    line = "see tests/api/test_names.py::test_mesh_name_with_slash_is_refused and docs/reference.md#retries, #timeouts"
    assert PATH.findall(line)[0] == ("tests/api/test_names.py", "test_mesh_name_with_slash_is_refused")
    assert ANCHORED.findall(line) == [("docs/reference.md", "#retries, #timeouts")]
    assert ANCHORED.findall("[retries](reference.md#retries)") == [("reference.md", "#retries")]
    assert {"retries", "timeouts", "uncertain"} <= anchors_of(ROOT / "docs" / "reference.md")
    assert slug("Where a knob lives") == "where-a-knob-lives"
