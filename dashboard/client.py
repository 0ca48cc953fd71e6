"""The dashboard's one way to its data: the Control Tower HTTP API.

`Api` is a plain httpx client that turns every failure into an `ApiProblem` saying what went wrong
and what to do about it; pages render those instead of data. `connection()` reads where the API is
from the settings `tower dashboard` passes down (refused settings: `Misconfigured`); `api()` and
`reader()` give the Streamlit pages a client cached as a resource and GET results cached for a few
seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import streamlit as st

if TYPE_CHECKING:
    from tower.settings import Settings

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
ENDPOINTS_SECONDS = 60.0
START_HINT = (
    "Start the server with `tower serve` (or server and dashboard together with `tower up`), "
    "or point the dashboard at another one with `tower dashboard --api URL`."
)


class ApiProblem(Exception):
    """Why a page shows no data: a title for the notice and what the user can do about it."""

    def __init__(self, title: str, hint: str) -> None:
        super().__init__(f"{title} {hint}")
        self.title = title
        self.hint = hint


class Unreachable(ApiProblem):
    """The API did not answer at all."""


class NotAvailable(ApiProblem):
    """This server has no such endpoint (an older build, or a part not deployed)."""


class Refused(ApiProblem):
    """The API key is missing, wrong, or lacks the scope."""


class Failed(ApiProblem):
    """The API answered with an error of its own."""


class Misconfigured(ApiProblem):
    """The dashboard's own TOWER_* settings were refused: it cannot know where the API is."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(
            "The dashboard's TOWER_* settings were refused:\n\n" + "\n".join(f"- {line}" for line in lines),
            "Fix them in the dashboard's environment and restart it (`tower dashboard` checks them first).",
        )
        self.lines = lines


class Reader(Protocol):
    """What the data functions need: GET a JSON document, and know whether the server has an endpoint."""

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def has(self, path: str) -> bool: ...

    def require(self, path: str) -> None:
        """Raise NotAvailable when the server does not serve `path`."""


@dataclass(frozen=True, slots=True)
class Connection:
    base_url: str
    api_key: str | None = None
    tenant: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.tenant:
            headers["X-Tower-Tenant"] = self.tenant
        return headers


def clean(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Query parameters without the unset ones, as strings (dates and numbers alike)."""
    return {k: v if isinstance(v, str) else str(v) for k, v in (params or {}).items() if v not in (None, "")}


class Api:
    """A shared httpx client on one Control Tower server."""

    def __init__(self, connection: Connection, timeout: float = 15.0) -> None:
        self.connection = connection
        self._client = httpx.Client(base_url=connection.base_url, headers=connection.headers(), timeout=timeout)
        self._endpoints: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        try:
            response = self._client.request(method, path, params=clean(params), json=json)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"Cannot reach the Control Tower API at {self.connection.base_url} ({type(exc).__name__}).",
                START_HINT,
            ) from None
        if response.status_code < 400:
            return response.json() if response.content else None
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        message = error.get("message") or response.text[:300] or response.reason_phrase
        if response.status_code in (401, 403):
            raise Refused(
                f"The API at {self.connection.base_url} refused the dashboard: {message}.",
                "Start the dashboard with an API key that has the read scope (the admin scope to acknowledge, "
                "silence and replay): `tower dashboard --api-key KEY` or TOWER_DASHBOARD_API_KEY.",
            )
        if response.status_code == 404 and error.get("message") == "Not Found":
            raise self.not_available(path)
        details = "; ".join(
            f"{d.get('field') or ''}: {d.get('reason')}".strip(": ") for d in error.get("details") or []
        )
        raise Failed(
            f"{method} {path} failed with {response.status_code}: {message}" + (f" ({details})" if details else ""),
            "Retry in a moment; if it persists, the server's log says more.",
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def endpoints(self) -> frozenset[str]:
        """The paths this server serves, from its OpenAPI document (re-read every minute)."""
        with self._lock:
            cached = self._endpoints
            if cached and time.monotonic() - cached[0] < ENDPOINTS_SECONDS:
                return cached[1]
        paths = frozenset(self.get("/openapi.json").get("paths", {}))
        with self._lock:
            self._endpoints = (time.monotonic(), paths)
        return paths

    def has(self, path: str) -> bool:
        return path in self.endpoints()

    def require(self, path: str) -> None:
        if not self.has(path):
            raise self.not_available(path)

    def not_available(self, path: str) -> NotAvailable:
        return NotAvailable(
            f"{path} is not available on the server at {self.connection.base_url}.",
            "This part of the dashboard needs a server that serves it: update Control Tower and restart "
            "`tower serve`; the rest of the dashboard works without it.",
        )


class CachedReader:
    """GETs through Streamlit's data cache (a few seconds), so reruns and several viewers share one answer."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _cached_get(self.api.connection, path, tuple(sorted(clean(params).items())))

    def has(self, path: str) -> bool:
        return self.api.has(path)

    def require(self, path: str) -> None:
        self.api.require(path)


def settings() -> Settings:
    """The TOWER_* settings; refused ones raise Misconfigured, logged by their variables (never the values)."""
    from tower.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        log.error("settings refused: %s", "; ".join(exc.lines))
        raise Misconfigured(exc.lines) from None


def connection() -> Connection:
    """Where the API is, from TOWER_DASHBOARD_API, TOWER_DASHBOARD_API_KEY and TOWER_DASHBOARD_TENANT."""
    loaded = settings()
    return Connection(loaded.dashboard_api_url, loaded.dashboard_api_key, loaded.dashboard_tenant)


def refresh_seconds() -> float | None:
    seconds = settings().dashboard_refresh_seconds
    return seconds if seconds > 0 else None


@st.cache_resource(show_spinner=False)
def api_for(conn: Connection) -> Api:
    return Api(conn)


def api() -> Api:
    """The shared client of this dashboard process (for actions: acknowledge, silence, replay)."""
    return api_for(connection())


def reader() -> CachedReader:
    """The shared client with its GETs cached for CACHE_SECONDS (for everything a page shows)."""
    return CachedReader(api())


def forget() -> None:
    """Drop cached answers: after an action, the next run shows its effect."""
    _cached_get.clear()


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _cached_get(conn: Connection, path: str, params: tuple[tuple[str, str], ...]) -> Any:
    return api_for(conn).get(path, dict(params))
