"""What `/openapi.json` says about errors, keys and success bodies, in one place for every route.

FastAPI documents a `422` it never sends here (validation errors are answered as `400` in the
shape of `tower.api.error_response`) and knows nothing of API keys, which routes check through
dependencies. `describe_errors` rewrites the generated schema so clients (and schemathesis, see
tests/hardening) see what the server really answers: the error body's schema on every 4xx/5xx,
`400` wherever a request can be malformed, `401`/`403` and the bearer scheme wherever a key is
required, `404` on routes naming a resource, and `503` where the store is read.

Success bodies are declared by each route (`responses={200: documented(Model, …)}`, see
`tower.responses`): where FastAPI also inferred a loose schema from a `dict[str, Any]` return
annotation, the declared model alone is kept. `success_schemas` names, per operation, what it
declared: `tests/hardening/test_openapi_success.py` fails on an operation that declares nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from tower.api import SCOPE_DEPENDENCIES

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["invalid_request"]},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "description": "per item: index, id, field and reason, where the error is about one",
                    "items": {"type": "object"},
                },
            },
        }
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
DESCRIPTIONS = {
    "400": "The request is malformed: the details name the field and the reason",
    "401": "No API key, or one that is not valid",
    "403": "The API key lacks the scope, or may not touch the tenant",
    "404": "No such resource for this tenant",
    "503": "The store did not answer; retry after Retry-After seconds",
}
OPEN_PATHS = ("/healthz", "/readyz", "/metrics")

# OpenAPI links: where an id one operation answers is the parameter of another. Clients (and the
# stateful fuzzing of tests/hardening) follow them: a journey found by lookup, then read whole.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {
    ("get", "/v1/lookup", "200"): {
        "FirstJourney": ("get", "/v1/journeys/{journey_id}", "path.journey_id=$response.body#/matches/0/journeys/0"),
    },
    ("get", "/v1/journeys", "200"): {
        "FirstJourney": ("get", "/v1/journeys/{journey_id}", "path.journey_id=$response.body#/items/0/id"),
    },
    ("get", "/v1/dead-letters", "200"): {
        "ReplayNewest": ("post", "/v1/dead-letters/{letter_id}/replay", "path.letter_id=$response.body#/items/0/id"),
    },
    ("get", "/v1/traces", "200"): {
        "NewestTrace": ("get", "/v1/traces/{trace_id}", "path.trace_id=$response.body#/items/0/trace_id"),
        "NewestTraceLogs": ("get", "/v1/logs", "query.trace_id=$response.body#/items/0/trace_id"),
    },
    ("get", "/v1/slos", "200"): {
        "FirstSeries": ("get", "/v1/slos/{name}/series", "path.name=$response.body#/items/0/name"),
    },
    ("get", "/v1/alerts", "200"): {
        "AckNewest": ("post", "/v1/alerts/{alert_id}/ack", "path.alert_id=$response.body#/items/0/id"),
    },
    ("post", "/v1/silences", "201"): {
        "Expire": ("delete", "/v1/silences/{silence_id}", "path.silence_id=$response.body#/id"),
    },
    ("get", "/v1/silences", "200"): {
        "ExpireFirst": ("delete", "/v1/silences/{silence_id}", "path.silence_id=$response.body#/items/0/id"),
    },
}


def _scope(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        if sub.call in SCOPE_DEPENDENCIES:
            return SCOPE_DEPENDENCIES[sub.call]
        found = _scope(sub)
        if found:
            return found
    return None


def describe_errors(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Replace `app.openapi` with one whose error responses and security say what the server does;
    `routers` are those included in `app` (their routes name the dependencies that check keys)."""
    scopes = {
        (method.lower(), route.path_format): _scope(route.dependant)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                _describe(operation, path, scopes.get((method, path)))
        _link(schema["paths"])
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key from TOWER_API_KEYS (scopes ingest, read, admin). A server without "
                "keys answers loopback clients only, without one.",
            }
        }
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


def _describe(operation: dict[str, Any], path: str, scope: str | None) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    wanted = set()
    if operation.get("parameters") or "requestBody" in operation or scope:
        wanted.add("400")
    if scope:
        wanted |= {"401", "403"}
        operation["security"] = [{"bearer": []}]
        operation["x-tower-scope"] = scope
        operation.setdefault("description", "")
        operation["description"] = (operation["description"] + f"\n\nNeeds a key with the `{scope}` scope.").strip()
    if "{" in path:
        wanted.add("404")
    if path not in OPEN_PATHS:
        wanted.add("503")
    for status in wanted:
        responses.setdefault(status, {"description": DESCRIPTIONS[status]})
    if path == "/readyz":
        responses["503"] = {
            "description": "Not ready: `checks` says which part failed",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}},
        }
    for status, response in responses.items():
        if status.startswith("2"):
            for media in response.get("content", {}).values():
                declared = media.get("schema", {})
                if "$ref" in declared:  # a declared model, merged into the schema inferred from `dict[str, Any]`
                    media["schema"] = {"$ref": declared["$ref"]}
    for status, response in responses.items():
        if status[0] in "45" and not (path == "/readyz" and status == "503"):
            if response.get("description") in (None, "", "Additional Response"):
                response["description"] = DESCRIPTIONS.get(status, "An error")
            declared = response.get("content", {}).get("application/json", {}).get("schema")
            if not declared:  # a route that answers errors in a shape of its own (OTLP) declares it
                response["content"] = {"application/json": {"schema": ERROR_REF}}


def _link(paths: dict[str, Any]) -> None:
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue  # a process that serves only some routes (tower slo) has not this one
        for name, (target_method, target_path, parameter) in links.items():
            if target_method not in paths.get(target_path, {}):
                continue
            location, _, expression = parameter.partition("=")
            pointer = target_path.replace("~", "~0").replace("/", "~1")
            response.setdefault("links", {})[name] = {
                "operationRef": f"#/paths/{pointer}/{target_method}",
                "parameters": {location: expression},
            }
