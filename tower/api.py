"""What every HTTP route shares: the error shape, API keys and scopes, and the tenant of a request.

Routes declare what they need with the `Annotated` aliases at the bottom (`IngestAccess`,
`ReadAccess`, `AdminAccess`); the tenant a request may touch is decided here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from tower.events import TENANT
from tower.settings import ApiKey, Settings

TENANT_HEADER = "X-Tower-Tenant"


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "details"}}` with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class JSON(JSONResponse):
    """JSON rendered by orjson: datetimes as RFC 3339 (UTC as `Z`), fast on large journeys. What
    orjson has no form for gets pydantic's JSON form (sets as lists, decimals as strings)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_plain, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON")


class AnsweredAsBuilt(APIRoute):
    """A route whose answer is the dict it builds, rendered by `JSON` as it is. FastAPI would take a
    route's return annotation (`dict[str, Any]`) for its response model and run every answer
    through pydantic first, a copy of the whole answer (0.35 ms for a journey page). The models in
    each route's `responses` document the answers (`tower.responses`; tests/hardening checks them)."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        if isinstance(kwargs.get("response_model"), DefaultPlaceholder):
            kwargs["response_model"] = None
        super().__init__(path, endpoint, **kwargs)


def api_router(tag: str) -> APIRouter:
    """The router of one part of the API: its routes answer as built (`AnsweredAsBuilt`)."""
    return APIRouter(tags=[tag], route_class=AnsweredAsBuilt)


def error_response(error: ApiError) -> JSON:
    return JSON(
        {"error": {"code": error.code, "message": error.message, "details": error.details}},
        status_code=error.status,
        headers=error.headers,
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their scopes and the tenant their requests are scoped to."""

    scopes: frozenset[str]
    tenant: str
    tenant_locked: bool
    key_id: str


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in ("localhost", "testclient"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _find_key(keys: dict[str, ApiKey], presented: str) -> ApiKey | None:
    found = None
    for key, entry in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = entry
    return found


def authenticate(request: Request, scope: str) -> Principal:
    settings: Settings = request.app.state.settings
    requested = request.headers.get(TENANT_HEADER) or request.query_params.get("tenant") or ""
    if requested and not TENANT.match(requested):
        raise ApiError(
            400, "invalid_tenant", f"tenant {requested[:80]!r} must be 1-128 letters, digits, '.', '_' or '-'"
        )
    if not settings.auth_enabled:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            raise ApiError(
                403,
                "loopback_only",
                "this server has no API keys configured and only answers loopback clients; "
                "set TOWER_API_KEYS to serve other hosts",
            )
        return Principal(frozenset({"ingest", "read", "admin"}), requested, False, "loopback")
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthenticated",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = _find_key(settings.keys, presented.strip())
    if key is None:
        raise ApiError(401, "unauthenticated", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if scope not in key.scopes and "admin" not in key.scopes:
        raise ApiError(
            403, "forbidden", f"this API key lacks the {scope!r} scope (it has {'+'.join(sorted(key.scopes))})"
        )
    if key.tenant is not None:
        if requested and requested != key.tenant:
            raise ApiError(403, "forbidden", f"this API key is limited to tenant {key.tenant!r}")
        return Principal(key.scopes, key.tenant, True, key.key[:4])
    return Principal(key.scopes, requested, False, key.key[:4])


def metrics_tenants(request: Request) -> frozenset[str] | None:
    """Whose tenant-labelled series `/metrics` shows (None: every tenant's). It answers without a key
    (a scraper's process metrics), but tenant series need one once keys are configured: every
    tenant's to a key bound to none, a tenant-bound key's own, nobody's without a valid key."""
    settings: Settings = request.app.state.settings
    if not settings.auth_enabled:
        return None  # a loopback-only development server
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    key = _find_key(settings.keys, presented.strip()) if scheme.lower() == "bearer" and presented.strip() else None
    if key is None:
        return frozenset()
    return None if key.tenant is None else frozenset({key.tenant})


def _ingest(request: Request) -> Principal:
    return authenticate(request, "ingest")


def _read(request: Request) -> Principal:
    return authenticate(request, "read")


def _admin(request: Request) -> Principal:
    return authenticate(request, "admin")


SCOPE_DEPENDENCIES = {_ingest: "ingest", _read: "read", _admin: "admin"}
"""The dependency behind each access alias → the scope it asks for (how /openapi.json learns which
operations need a key, see `tower.openapi`)."""

IngestAccess = Annotated[Principal, Depends(_ingest)]
ReadAccess = Annotated[Principal, Depends(_read)]
AdminAccess = Annotated[Principal, Depends(_admin)]


def rfc3339(value: datetime | None) -> str | None:
    """A stored time as RFC 3339 UTC with Z; ClickHouse hands back naive datetimes for UTC columns."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def page_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


# ClickHouse's DateTime64 holds 1900-01-01 to 2299-12-31; a time outside it is the caller's mistake
# (a 400 naming the parameter), not a store failure.
STORABLE_YEARS = (1900, 2299)


def storable(value: datetime) -> datetime:
    """A query's time: with a UTC offset (naive times read as UTC) and inside the store's range."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # year 1 or 9999 moved past what datetime holds: far out of range anyway
        year = value.year
    if not STORABLE_YEARS[0] <= year <= STORABLE_YEARS[1]:
        raise ValueError(f"must be between {STORABLE_YEARS[0]}-01-01 and {STORABLE_YEARS[1]}-12-31")
    return value


Instant = Annotated[datetime, AfterValidator(storable)]
"""A time query parameter (`from`, `to`): RFC 3339, inside the range the store can compare with."""

# A DateTime64(9) (OpenTelemetry's nanosecond timestamps) is an Int64 of nanoseconds: it ends here.
LAST_NANOSECOND_TIME = datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)


def storable_ns(value: datetime) -> datetime:
    """A query's time against a nanosecond column: `storable`, and no later than DateTime64(9) holds."""
    value = storable(value)
    if value > LAST_NANOSECOND_TIME:
        raise ValueError(f"must be between {STORABLE_YEARS[0]}-01-01 and {rfc3339(LAST_NANOSECOND_TIME)}")
    return value


NanoInstant = Annotated[datetime, AfterValidator(storable_ns)]
"""A time query parameter compared with nanosecond timestamps (spans): `Instant`, up to 2262-04-11."""


def read_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start again without it") from None
    if not isinstance(value, list):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start again without it")
    return value


def read_time_cursor(cursor: str | None) -> tuple[str, str] | None:
    """A `[time, id]` cursor (as `page_cursor` wrote it for a time-ordered listing), checked before it
    reaches SQL: a forged one is a 400, never a query the store refuses."""
    after = read_cursor(cursor)
    if not after:
        return None
    if len(after) == 2 and isinstance(after[0], str) and isinstance(after[1], str):
        try:
            at = datetime.fromisoformat(after[0])
        except ValueError:
            at = None
        if at is not None and STORABLE_YEARS[0] <= at.year <= STORABLE_YEARS[1]:
            return after[0], after[1]
    raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start again without it")
