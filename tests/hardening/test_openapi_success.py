"""Every operation declares the body of its success, so no route can answer an undocumented shape.

Walks every route of the app (not the schema: a route FastAPI left out of it would be missed there)
and fails if one has no 2xx response whose every media type carries a precise schema — a model
with named, required properties for JSON, a typed string for text and protobuf. The schemathesis
test (`test_api_schema.py`) then checks every answer against these schemas.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from collector.app import create_app
from tower.settings import Settings

APP = create_app(Settings(data_dir=Path(tempfile.gettempdir()) / "tower-openapi-success"))
SPEC = APP.openapi()
COMPONENTS = SPEC["components"]["schemas"]
# every route the app serves, through the routers it includes (FastAPI nests them in its route list)
OPERATIONS = sorted(
    (method.lower(), str(context.path_format))
    for context in iter_route_contexts(APP.routes)
    if isinstance(context.original_route, APIRoute)
    for method in context.original_route.methods or ()
)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    return COMPONENTS[ref.rsplit("/", 1)[1]]


def success_problems(operation: dict[str, Any]) -> list[str]:
    """What is missing from an operation's declared success (empty when it is declared precisely): a
    JSON body names its properties and requires some (or allows no others: OTLP/JSON leaves out
    every field at its default)."""
    successes = {status: r for status, r in operation.get("responses", {}).items() if status.startswith("2")}
    if not successes:
        return ["no 2xx response"]
    problems = []
    for status, response in successes.items():
        content = response.get("content")
        if not content:
            problems.append(f"{status}: no content")
            continue
        for media, declared in content.items():
            schema = resolve(declared.get("schema") or {})
            if media.endswith("json"):
                closed = schema.get("required") or schema.get("additionalProperties") is False
                if not schema.get("properties") or not closed:
                    problems.append(f"{status} {media}: no model with required or only named properties ({schema})")
            elif schema.get("type") != "string":
                problems.append(f"{status} {media}: not a typed string ({schema})")
    return problems


def test_the_walk_finds_every_route() -> None:
    assert len(OPERATIONS) == sum(len(item) for item in SPEC["paths"].values()) >= 37


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p in OPERATIONS])
def test_every_route_declares_its_success_body(method: str, path: str) -> None:
    operation = SPEC["paths"].get(path, {}).get(method)
    assert operation is not None, f"{method.upper()} {path} is served but missing from /openapi.json"
    assert success_problems(operation) == []


def test_a_route_with_a_loose_success_body_is_caught() -> None:
    """The check itself: FastAPI's schema for a `dict[str, Any]` answer, and no content, fail it."""
    loose = {"200": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}
    assert success_problems({"responses": loose})
    assert success_problems({"responses": {"200": {"description": "ok"}}}) == ["200: no content"]
    assert success_problems({"responses": {"400": {}}}) == ["no 2xx response"]


def test_json_success_schemas_say_nothing_of_fastapis_inferred_dict() -> None:
    """A declared model replaces, not joins, the `additionalProperties` object FastAPI inferred."""
    for item in SPEC["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if status.startswith("2") and "$ref" in schema:
                    assert list(schema) == ["$ref"], (status, schema)


def pointer_declared(schema: dict[str, Any], pointer: str) -> bool:
    """Whether a JSON pointer into a response body (`/items/0/id`) names properties the schema declares."""
    for part in pointer.strip("/").split("/"):
        schema = resolve(schema)
        if part.isdigit():
            if schema.get("type") != "array":
                return False
            schema = schema["items"]
        else:
            if part not in schema.get("properties", {}):
                return False
            schema = schema["properties"][part]
    return True


def test_every_link_points_at_a_declared_field() -> None:
    """`/v1/journeys` → journey pointed at `items/0/journey_id`, which no item has (it is `id`):
    the stateful fuzzing never followed that link."""
    links = 0
    for item in SPEC["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for name, link in response.get("links", {}).items():
                    (expression,) = link["parameters"].values()
                    pointer = expression.removeprefix("$response.body#")
                    assert pointer_declared(schema, pointer), (name, status, expression)
                    links += 1
    assert links >= 9


def test_readiness_answers_one_shape_ready_or_not() -> None:
    responses = SPEC["paths"]["/readyz"]["get"]["responses"]
    ready = responses["200"]["content"]["application/json"]["schema"]
    assert (
        responses["503"]["content"]["application/json"]["schema"] == ready == {"$ref": "#/components/schemas/Readiness"}
    )
