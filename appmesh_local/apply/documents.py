"""Files and directories given to `apply -f`: which are templates, which are manifests.

A document with a `Resources` section (or `AWSTemplateFormatVersion`) is a CloudFormation
template (one per file, YAML or JSON); documents with `apiVersion` and `kind` are
Kubernetes manifests (any number per file, `---`-separated; `kind: List` is unpacked).
A file given by name must be one or the other; in a directory, other YAML and JSON
files (a `cdk.out`'s manifest.json, a kustomization.yaml) are listed and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from .cfn.template import Template, read_template
from .errors import ApplyError

SUFFIXES = (".yaml", ".yml", ".json", ".template")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object as written, and where."""

    body: Mapping[str, Any]
    file: str
    index: int  # document number in its file, from 1

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))


@dataclass
class Inputs:
    templates: list[Template] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # directory entries that are neither


class _AnyTagLoader(yaml.SafeLoader):
    """Reads any YAML, CloudFormation's short forms included, just to tell what a file is."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_AnyTagLoader.add_multi_constructor("!", _construct_tagged)


def _files(path: Path) -> Iterator[tuple[Path, bool]]:
    """(file, named by the user) for a file or every file with a known suffix under a directory."""
    if path.is_dir():
        for found in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            yield found, False
    elif path.is_file():
        yield path, True
    else:
        raise ApplyError("no such file or directory", file=str(path))


def read_inputs(paths: list[Path]) -> Inputs:
    inputs = Inputs()
    for given in paths:
        for path, named in _files(given):
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ApplyError(f"cannot read: {exc}", file=str(path)) from None
            _classify(path, text, named, inputs)
    return inputs


def _classify(path: Path, text: str, named: bool, inputs: Inputs) -> None:
    try:
        documents = [d for d in yaml.load_all(text, Loader=_AnyTagLoader) if d is not None]
    except yaml.YAMLError as exc:
        if not named:
            inputs.ignored.append(f"{path}: not YAML or JSON")
            return
        raise ApplyError(f"not valid YAML or JSON: {' '.join(str(exc).split())}", file=str(path)) from None
    if (
        len(documents) == 1
        and isinstance(documents[0], Mapping)
        and ("Resources" in documents[0] or "AWSTemplateFormatVersion" in documents[0])
    ):
        inputs.templates.append(read_template(path, text))
        return
    objects = list(_objects(documents))
    if objects and all(isinstance(d, Mapping) and "apiVersion" in d and "kind" in d for d in objects):
        inputs.manifests.extend(Manifest(body=d, file=str(path), index=i) for i, d in enumerate(objects, start=1))
        return
    if named:
        raise ApplyError(
            "neither a CloudFormation template (no Resources section) nor Kubernetes manifests "
            "(documents with apiVersion and kind)",
            file=str(path),
        )
    inputs.ignored.append(f"{path}: neither a template nor manifests")


def _objects(documents: list[Any]) -> Iterator[Any]:
    for document in documents:
        if isinstance(document, Mapping) and document.get("kind") == "List" and isinstance(document.get("items"), list):
            yield from document["items"]
        else:
            yield document
