"""The compiled pre-check may only ever say "certainly valid" where marshmallow agrees, with the same result.

Inputs: model-generated examples of every operation (tests/api/model_examples.py), and
mutations of them (nulls, wrong types, over-long strings, missing and unknown members,
a second union member) at every depth. For each, validate_input (pre-check first) must
return exactly what marshmallow alone returns (same dict, same key order) or raise the
same BadRequest message.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Iterator

import pytest
from marshmallow import ValidationError

from appmesh_local.api_models.errors import BadRequest
from appmesh_local.api_models.model import service_model
from appmesh_local.api_models.precheck import Unsure, input_checker
from appmesh_local.api_models.schemas import input_schema
from appmesh_local.api_models.validation import validate_input
from tests.api.model_examples import input_example

OPERATIONS = sorted(service_model().operation_names)
MUTATIONS = (None, 7, True, "x" * 300, "", [], {}, -1, "DELETE", "UNKNOWN", "SECOND")


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _mutate(document: dict, path: tuple, mutation: Any) -> dict | None:
    out = copy.deepcopy(document)
    parent, target = out, None
    for step in path[:-1]:
        parent = parent[step]
    if not path:
        target = out
    if mutation == "DELETE":
        if not path or not isinstance(parent, dict):
            return None
        del parent[path[-1]]
    elif mutation in ("UNKNOWN", "SECOND"):
        holder = target if target is not None else parent[path[-1]]
        if not isinstance(holder, dict):
            return None
        holder["zzNotModelled" if mutation == "UNKNOWN" else "httpRoute"] = {"a": 1}
    else:
        if not path:
            return None
        parent[path[-1]] = mutation
    return out


def _cases(operation: str) -> list[dict]:
    rng = random.Random(operation)
    examples = [input_example(operation, v) for v in range(4)] + [input_example(operation, 0, minimal=True)]
    cases = list(examples)
    for example in examples:
        paths = list(_paths(example))
        for _ in range(60):
            mutated = _mutate(example, rng.choice(paths), rng.choice(MUTATIONS))
            if mutated is not None:
                cases.append(mutated)
    return cases


def _marshmallow_only(operation: str, params: dict) -> tuple[str, str]:
    try:
        return "ok", json.dumps(input_schema(operation).load(params))
    except ValidationError:
        return "error", ""


def _combined(operation: str, params: dict) -> tuple[str, str]:
    try:
        return "ok", json.dumps(validate_input(operation, params))
    except BadRequest as error:
        return "error", error.message


@pytest.mark.parametrize("operation", OPERATIONS)
def test_precheck_never_disagrees_with_marshmallow(operation):
    accepted_by_precheck = 0
    for params in _cases(operation):
        expected = _marshmallow_only(operation, params)
        try:
            checked = json.dumps(input_checker(operation)(params))
            accepted_by_precheck += 1
            assert expected == ("ok", checked), params
        except Unsure:
            pass
        outcome = _combined(operation, params)
        assert outcome[0] == expected[0], params
        if outcome[0] == "ok":
            assert outcome[1] == expected[1], params
    # Guard against a checker that is always Unsure (correct but useless): valid examples pass it.
    valid = [p for p in _cases(operation)[:5] if _marshmallow_only(operation, p)[0] == "ok"]
    assert not valid or accepted_by_precheck >= len(valid)
