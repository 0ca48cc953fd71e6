"""Two tenants with the same identifiers on one real server: nothing of one shows in the other, keys
do only what their scope allows, and every `{id}` route answers 404 to another tenant's id (OWASP API1).

Both tenants send the same order `#1001`, the same ERP order, tracking number and SKU, the same
event ids, the same OTLP fixture (same trace ids); `bravo` also has order `#2002`, a trace and a
dead letter only it has. Everything `bravo` owns that `alpha` does not carries the word "bravo"
(customer, warehouse, system, service name, silence and ack comments, KPI target source), so a
leak is any "bravo" in an answer to an `alpha` key. The table of cases is keyed by the app's own
route list: a route added without a case fails `test_every_route_has_a_case`.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from collector.app import create_app
from tests.conftest import REPO, ServerProcess, correlated, post_events, wait_for
from tests.support.ocel import FIXTURES
from tower.settings import Settings
from tower.store import Store, StoreError

pytestmark = pytest.mark.slow

TENANTS = ("alpha", "bravo")
SCOPES = ("ingest", "read", "admin")
CLOCK = "2026-11-22T12:00:00Z"
DAY = "2026-11-20"
BRAVO_TRACE = "0123456789abcdef0123456789abcdef"
OTLP_JSON = {"Content-Type": "application/json"}


def key(tenant: str, scope: str) -> str:
    return f"ct-{tenant}-{scope}-k3y-0f-twenty-chars"


OPERATOR_KEY = "ct-operator-admin-unbound-key-0001"  # admin, bound to no tenant


def auth(tenant: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key(tenant, scope)}"}


# --- the data both tenants send ------------------------------------------------------------------


def event(eid: str, source: str, etype: str, time: str, objects: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": etype,
        "time": f"{DAY}T{time}Z",
        "data": {"objects": objects, **data},
    }


def business(tenant: str) -> list[dict[str, Any]]:
    """The same identifiers and event ids in both tenants; names only the tenant uses carry its name."""
    order = {"type": "order", "ids": {"shopify/acme-eu": "#1001", "erp": "SO-1001"}}
    parcel = {"type": "shipment", "ids": {"tracking:ups": "1Z999AA10123456784"}}
    dims = {"channel": "web", "warehouse": f"{tenant}-dc", "customer": f"{tenant}-customer", "carrier": "ups"}
    lines = [{"line": "1", "sku": "SKU-1", "quantity": 2, "uom": "EA"}]
    events = [
        event(
            "wh-1",
            "shopify/acme-eu",
            "order.received",
            "10:00:00",
            [order],
            dims=dims,
            facts={"promised_ship_date": DAY, "lines": lines},
        ),
        event("so-77", "erp/netsuite", "order.accepted", "10:04:00", [order], dims=dims),
        event("lbl-9", "shipping/shipstation", "shipment.manifested", "16:00:00", [order, parcel], dims=dims),
        # a duplicate milestone: an anomaly for /v1/reconciliation/anomalies
        event("lbl-9b", "shipping/shipstation", "shipment.manifested", "16:01:00", [order, parcel], dims=dims),
        event(
            "f-1",
            "erp/netsuite",
            "sync.failed",
            "11:00:00",
            [order],
            facts={"system": f"{tenant}-erp", "operation": "post order", "error": f"{tenant} HTTP 503", "attempt": 1},
        ),
    ]
    for system, on_hand in (("erp", 10), ("wms", 7)):
        events.append(
            event(
                f"snap-{system}",
                f"{system}/main",
                "inventory.snapshot",
                "11:30:00",
                [],
                facts={
                    "system": system,
                    "warehouse": f"{tenant}-dc",
                    "sku": "SKU-1",
                    "on_hand": on_hand,
                    "available": on_hand - 9,
                    "as_of": f"{DAY}T11:30:00Z",
                },
            )
        )
    if tenant == "bravo":
        events.append(
            event(
                "wh-2",
                "shopify/acme-eu",
                "order.received",
                "10:30:00",
                [{"type": "order", "ids": {"shopify/acme-eu": "#2002"}}],
                dims={**dims, "customer": "bravo-only-customer"},
            )
        )
        # a parcel of a carrier only bravo uses, never scanned
        events.append(
            event(
                "lbl-2",
                "shipping/shipstation",
                "shipment.manifested",
                "12:00:00",
                [
                    {"type": "order", "ids": {"shopify/acme-eu": "#2002"}},
                    {"type": "shipment", "ids": {"tracking:bravo-freight": "BF-2002"}},
                ],
                dims={**dims, "carrier": "bravo-freight"},
            )
        )
    return events


def otlp(kind: str, tenant: str, trace_id: str | None = None) -> bytes:
    """The OTLP/JSON fixture with its service renamed for the tenant (and, for bravo, its own trace id)."""
    document = json.loads((FIXTURES / "otlp" / "opentelemetry-proto" / f"{kind}.json").read_text())
    resources = document["resourceSpans" if kind == "trace" else "resourceLogs"]
    for resource in resources:
        for attribute in resource["resource"]["attributes"]:
            if attribute["key"] == "service.name":
                attribute["value"] = {"stringValue": f"{tenant}.service"}
        if trace_id:
            for scope in resource["scopeSpans" if kind == "trace" else "scopeLogs"]:
                for item in scope["spans" if kind == "trace" else "logRecords"]:
                    item["traceId"] = trace_id
    return json.dumps(document).encode()


@dataclass
class World:
    server: ServerProcess
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # tenant → kind → an id it owns

    def client(self, tenant: str, scope: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=auth(tenant, scope), timeout=60)


@pytest.fixture(scope="module")
def world(start_module_server: Callable[..., ServerProcess]) -> Iterator[World]:
    keys = ",".join(f"{key(t, s)}={s}@{t}" for t in TENANTS for s in SCOPES) + f",{OPERATOR_KEY}=admin"
    server = start_module_server(
        env={
            "TOWER_API_KEYS": keys,
            "TOWER_CLOCK": CLOCK,
            "TOWER_MISSING_TRACKING_ALERT_MIN": "1",
            "TOWER_SLO_ENGINE": "false",  # evaluated on demand below, not by the loop
        }
    )
    w = World(server)
    for tenant in TENANTS:
        ids: dict[str, str] = {}
        with w.client(tenant, "ingest") as ingest:
            assert post_events(ingest, business(tenant))["accepted"] == len(business(tenant))
            bad = ingest.post("/v1/events", json={"specversion": "1.0", "id": f"{tenant}-broken"})
            assert bad.status_code == 400, bad.text
            for kind in ("trace", "logs"):
                path = "/v1/traces" if kind == "trace" else "/v1/logs"
                sent = ingest.post(path, content=otlp(kind, tenant), headers=OTLP_JSON)
                assert sent.status_code == 200, sent.text
            if tenant == "bravo":
                sent = ingest.post("/v1/traces", content=otlp("trace", tenant, BRAVO_TRACE), headers=OTLP_JSON)
                assert sent.status_code == 200, sent.text
            wait_for(lambda c=ingest: correlated(c), timeout=60)
        with w.client(tenant, "admin") as admin:
            order = admin.get("/v1/lookup", params={"q": "#1001"}).json()["matches"]
            ids["journey"] = next(j for m in order for j in m["journeys"])
            ids["dead_letter"] = admin.get("/v1/dead-letters").json()["items"][0]["id"]
            ids["trace"] = BRAVO_TRACE if tenant == "bravo" else "5b8efff798038103d269b633813fc60c"
            assert admin.post("/v1/slos/evaluate").status_code == 200
            alerts = admin.get("/v1/alerts").json()["items"]
            assert alerts, f"{tenant}: stale inventory snapshots should page"
            # the same labels make the same alert id in both tenants; the warehouse's slice is the tenant's own
            ids["alert"] = next(a["id"] for a in alerts if a["labels"].get("warehouse") == f"{tenant}-dc")
            silence = {
                "matchers": [{"name": "alertname", "value": "ShipmentsMissingTracking"}],
                "ends_at": "2026-12-31T00:00:00Z",
                "created_by": f"{tenant}-oncall",
                "comment": f"{tenant} maintenance window",
            }
            for name in ("silence", "silence_to_delete"):
                made = admin.post("/v1/silences", json=silence)
                assert made.status_code == 201, made.text
                ids[name] = made.json()["id"]
            acked = admin.post(f"/v1/alerts/{ids['alert']}/ack", json={"by": f"{tenant}-oncall", "comment": tenant})
            assert acked.status_code == 200, acked.text
            targets = admin.put("/v1/kpis/targets", json={"on_time_shipment": 0.5 if tenant == "bravo" else 0.9})
            assert targets.status_code == 200, targets.text
            if tenant == "bravo":
                only = admin.get("/v1/lookup", params={"q": "#2002"}).json()["matches"]
                ids["journey_only"] = only[0]["journeys"][0]
        w.ids[tenant] = ids
    assert w.ids["alpha"]["journey"] != w.ids["bravo"]["journey"]
    yield w


# --- the table: every route of the app ------------------------------------------------------------

Request = Callable[[World, str], tuple[str, dict[str, Any]]]  # (world, tenant whose ids to use) → (url, kwargs)


@dataclass(frozen=True)
class Case:
    scope: str | None  # None: open to all (health, docs)
    request: Request  # a request that passes authorisation; for writes, one that changes nothing of note
    isolated: bool = True  # an alpha key's answer must hold nothing of bravo
    bravo_marked: bool = False  # bravo's own answer carries the "bravo" marker (proves the check can see)
    object_id: str | None = None  # the kind of id in the path: alpha's key with bravo's id gets 404
    server_wide: bool = False  # changes what every tenant sees: only an admin key bound to no tenant
    why_open: str = ""


def get(url: str, **params: Any) -> Request:
    return lambda w, t: (url, {"params": params})


def with_id(template: str, kind: str, **kwargs: Any) -> Request:
    return lambda w, t: (template.format(id=w.ids[t][kind]), kwargs)


NOT_JSON = {"content": b"{", "headers": {"Content-Type": "application/json"}}
CASES: dict[tuple[str, str], Case] = {
    ("GET", "/healthz"): Case(None, get("/healthz"), why_open="liveness, no data"),
    ("GET", "/readyz"): Case(None, get("/readyz"), why_open="readiness: lags and counts, no tenant data"),
    ("GET", "/metrics"): Case(
        None,
        get("/metrics"),
        why_open="Prometheus scrape: process metrics open; tenant series need a key (test_metrics_…)",
    ),
    ("GET", "/openapi.json"): Case(None, get("/openapi.json"), why_open="the schema"),
    ("GET", "/docs"): Case(None, get("/docs"), why_open="the schema's page"),
    ("GET", "/docs/oauth2-redirect"): Case(None, get("/docs/oauth2-redirect"), why_open="part of /docs"),
    ("GET", "/redoc"): Case(None, get("/redoc"), why_open="the schema's page"),
    ("POST", "/v1/events"): Case("ingest", lambda w, t: ("/v1/events", NOT_JSON)),
    ("POST", "/v1/traces"): Case("ingest", lambda w, t: ("/v1/traces", NOT_JSON)),
    ("POST", "/v1/logs"): Case("ingest", lambda w, t: ("/v1/logs", NOT_JSON)),
    ("POST", "/v1/adapters/{adapter}"): Case("ingest", lambda w, t: ("/v1/adapters/no-such-adapter", {})),
    ("POST", "/v1/deliveries"): Case(
        "ingest",
        lambda w, t: ("/v1/deliveries", {"content": b"{", "headers": {"Content-Type": "application/x-ndjson"}}),
    ),
    ("GET", "/v1/dead-letters"): Case("read", get("/v1/dead-letters"), bravo_marked=True),
    ("POST", "/v1/dead-letters/{letter_id}/replay"): Case(
        "admin", with_id("/v1/dead-letters/{id}/replay", "dead_letter"), object_id="dead_letter"
    ),
    ("GET", "/v1/admin/clock"): Case("read", get("/v1/admin/clock")),
    ("POST", "/v1/admin/clock"): Case("admin", lambda w, t: ("/v1/admin/clock", {"json": {}}), server_wide=True),
    ("GET", "/v1/journeys/summary"): Case(
        "read", get("/v1/journeys/summary", by="status,warehouse,carrier"), bravo_marked=True
    ),
    ("GET", "/v1/journeys/{journey_id}"): Case(
        "read", with_id("/v1/journeys/{id}", "journey"), bravo_marked=True, object_id="journey"
    ),
    ("GET", "/v1/journeys"): Case("read", get("/v1/journeys", limit=1000), bravo_marked=True),
    ("GET", "/v1/lookup"): Case("read", get("/v1/lookup", q="#1001")),
    ("GET", "/v1/traces"): Case("read", get("/v1/traces"), bravo_marked=True),
    ("GET", "/v1/traces/{trace_id}"): Case(
        "read", with_id("/v1/traces/{id}", "trace"), bravo_marked=True, object_id="trace"
    ),
    ("GET", "/v1/logs"): Case("read", get("/v1/logs"), bravo_marked=True),
    ("GET", "/v1/kpis"): Case("read", get("/v1/kpis", **{"from": f"{DAY}T00:00:00Z", "to": CLOCK}), bravo_marked=True),
    ("GET", "/v1/kpis/targets"): Case("read", get("/v1/kpis/targets")),
    ("PUT", "/v1/kpis/targets"): Case("admin", lambda w, t: ("/v1/kpis/targets", {"json": {}})),
    ("GET", "/v1/reconciliation/inventory"): Case("read", get("/v1/reconciliation/inventory"), bravo_marked=True),
    ("GET", "/v1/reconciliation/tracking"): Case("read", get("/v1/reconciliation/tracking"), bravo_marked=True),
    ("GET", "/v1/reconciliation/edi"): Case("read", get("/v1/reconciliation/edi", ack_hours=1)),
    ("GET", "/v1/reconciliation/stuck"): Case("read", get("/v1/reconciliation/stuck"), bravo_marked=True),
    ("GET", "/v1/reconciliation/oversell"): Case("read", get("/v1/reconciliation/oversell"), bravo_marked=True),
    ("GET", "/v1/reconciliation/anomalies"): Case("read", get("/v1/reconciliation/anomalies"), bravo_marked=True),
    ("GET", "/v1/integration/failures"): Case(
        "read", get("/v1/integration/failures", **{"from": f"{DAY}T00:00:00Z", "to": CLOCK}), bravo_marked=True
    ),
    ("GET", "/v1/slos"): Case("read", get("/v1/slos"), bravo_marked=True),
    ("POST", "/v1/slos/evaluate"): Case("admin", lambda w, t: ("/v1/slos/evaluate", {})),
    ("GET", "/v1/slos/{name}/series"): Case(
        "read", get("/v1/slos/integration-errors/series", slice="system=alpha-erp", step="1h")
    ),
    ("GET", "/v1/alerts"): Case("read", get("/v1/alerts"), bravo_marked=True),
    ("POST", "/v1/alerts/{alert_id}/ack"): Case(
        "admin", with_id("/v1/alerts/{id}/ack", "alert", json={"by": "probe", "comment": ""}), object_id="alert"
    ),
    ("GET", "/v1/silences"): Case("read", get("/v1/silences"), bravo_marked=True),
    ("POST", "/v1/silences"): Case("admin", lambda w, t: ("/v1/silences", {"json": {}})),
    ("DELETE", "/v1/silences/{silence_id}"): Case(
        "admin", with_id("/v1/silences/{id}", "silence_to_delete"), object_id="silence_to_delete"
    ),
}


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the server serves, routers included (walked, not read off the schema,
    so a route left out of /openapi.json still needs a case)."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x keeps included routers whole
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)
            elif isinstance(route, (APIRoute, Route)):
                path = (prefix + route.path).replace("{adapter:path}", "{adapter}")
                found.update((m, path) for m in (route.methods or ()) if m != "HEAD")

    walk(create_app(Settings(api_keys=f"{OPERATOR_KEY}=admin")).routes, "")
    return found


def call(w: World, method: str, case: Case, owner: str, headers: dict[str, str]) -> httpx.Response:
    url, kwargs = case.request(w, owner)
    kwargs = copy.deepcopy(kwargs)
    kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
    return httpx.request(method, w.server.url + url, timeout=60, **kwargs)


def leaks(text: str, w: World) -> list[str]:
    bravo_only = [v for k, v in w.ids["bravo"].items() if w.ids["alpha"].get(k) != v]
    return [m for m in ("bravo", *bravo_only) if m.lower() in text.lower()]


def test_every_route_has_a_case() -> None:
    routes = app_routes()
    assert routes - set(CASES) == set(), "routes without a tenancy case: add one to CASES"
    assert set(CASES) - routes == set(), "cases for routes the app no longer has"


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_keys_do_only_what_their_scope_allows(world: World, method: str, path: str) -> None:
    case = CASES[(method, path)]
    if case.scope is None:
        assert call(world, method, case, "alpha", {}).status_code == 200
        return
    assert call(world, method, case, "alpha", {}).status_code == 401
    assert call(world, method, case, "alpha", {"Authorization": "Bearer not-a-key"}).status_code == 401
    for scope in SCOPES:
        status = call(world, method, case, "alpha", auth("alpha", scope)).status_code
        allowed = (scope == case.scope or scope == "admin") and not case.server_wide
        assert (status == 403) != allowed, f"{scope} key on {method} {path}: {status}"
    operator = call(world, method, case, "alpha", {"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert operator.status_code not in (401, 403), operator.text
    # a key bound to alpha cannot ask for bravo
    asked = call(world, method, case, "alpha", {**auth("alpha", "admin"), "X-Tower-Tenant": "bravo"})
    assert asked.status_code == 403, asked.text
    url, kwargs = case.request(world, "alpha")
    by_query = httpx.request(
        method,
        world.server.url + url,
        params={**kwargs.get("params", {}), "tenant": "bravo"},
        headers={**kwargs.get("headers", {}), **auth("alpha", "admin")},
        timeout=60,
        **{k: v for k, v in kwargs.items() if k not in ("params", "headers")},
    )
    assert by_query.status_code == 403, by_query.text


@pytest.mark.parametrize(("method", "path"), sorted(k for k, c in CASES.items() if c.isolated and k[0] == "GET"))
def test_reads_of_one_tenant_show_nothing_of_the_other(world: World, method: str, path: str) -> None:
    case = CASES[(method, path)]
    headers = auth("alpha", "read") if case.scope else {}
    answer = call(world, method, case, "alpha", headers)
    assert answer.status_code == 200, answer.text
    assert leaks(answer.text, world) == []
    if case.bravo_marked:
        own = call(world, method, case, "bravo", auth("bravo", "read"))
        assert own.status_code == 200 and "bravo" in own.text, f"bravo's own {path} should show its data"
        assert "alpha" not in own.text.lower()


@pytest.mark.parametrize(("method", "path"), sorted(k for k, c in CASES.items() if c.object_id))
def test_another_tenants_id_is_not_found(world: World, method: str, path: str) -> None:
    case = CASES[(method, path)]
    assert case.scope is not None and case.object_id is not None
    scope = case.scope
    theirs = call(world, method, case, "bravo", auth("alpha", scope))
    assert theirs.status_code == 404, theirs.text
    asked = world.ids["bravo"][case.object_id]  # the 404 may name the id it was given, nothing more
    assert leaks(theirs.text.replace(asked, ""), world) == []
    mine = call(world, method, case, "alpha", auth("alpha", scope))
    assert mine.status_code != 404, f"alpha's own {case.object_id} should be found: {mine.text}"
    assert leaks(mine.text, world) == []


def test_bravo_only_journey_is_not_found_for_alpha(world: World) -> None:
    with world.client("alpha", "read") as alpha:
        assert alpha.get(f"/v1/journeys/{world.ids['bravo']['journey_only']}").status_code == 404
        assert alpha.get("/v1/lookup", params={"q": "#2002"}).json()["matches"] == []


def test_the_same_identifiers_resolve_within_each_tenant(world: World) -> None:
    for tenant in TENANTS:
        with world.client(tenant, "read") as client:
            for q in ("#1001", "SO-1001", "1Z999AA10123456784"):
                matches = client.get("/v1/lookup", params={"q": q}).json()["matches"]
                journeys = {j for m in matches for j in m["journeys"]}
                assert journeys == {world.ids[tenant]["journey"]}, (tenant, q, matches)
            journey = client.get(f"/v1/journeys/{world.ids[tenant]['journey']}").json()
            assert {e["id"] for e in journey["events"]} == {"wh-1", "so-77", "lbl-9", "lbl-9b"}
            total = client.get("/v1/journeys").json()["total"]
            assert total == (2 if tenant == "bravo" else 1)


def test_metrics_show_tenant_series_only_to_a_key_allowed_to_see_them(world: World) -> None:
    def scrape(headers: dict[str, str]) -> str:
        answer = httpx.get(f"{world.server.url}/metrics", headers=headers, timeout=30)
        assert answer.status_code == 200
        assert "tower_events_accepted_total" in answer.text  # the process's own metrics, for any scraper
        return answer.text

    anonymous = scrape({})
    assert 'tenant="' not in anonymous
    alpha = scrape(auth("alpha", "read"))
    assert 'tenant="alpha"' in alpha and leaks(alpha, world) == []
    operator = scrape({"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert 'tenant="alpha"' in operator and 'tenant="bravo"' in operator


def test_moving_the_shared_clock_needs_an_admin_key_bound_to_no_tenant(world: World) -> None:
    with world.client("alpha", "admin") as alpha:
        refused = alpha.post("/v1/admin/clock", json={"now": CLOCK})
        assert refused.status_code == 403, refused.text
        assert "every tenant" in refused.json()["error"]["message"]
    operator = httpx.post(
        f"{world.server.url}/v1/admin/clock",
        json={"now": CLOCK},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=30,
    )
    assert operator.status_code == 200, operator.text


def test_export_of_one_tenant_holds_nothing_of_the_other(world: World, tmp_path: Path) -> None:
    out = tmp_path / "alpha.ndjson"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tower.cli",
            "export",
            str(out),
            "--format",
            "ndjson",
            "--url",
            world.server.url,
            "--api-key",
            key("alpha", "read"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text()
    assert "#1001" in text
    assert leaks(text, world) == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM {db}.journeys",
        # filtered outside, not inside the subquery: it would read every tenant's events
        "SELECT * FROM {db}.journeys WHERE tenant = {tenant:String} AND journey_id IN (SELECT id FROM {db}.events)",
        "SELECT * FROM {db}.journeys AS j JOIN {db}.events AS e ON e.id = j.journey_id "
        "WHERE j.tenant = {tenant:String}",
    ],
)
def test_a_read_must_bind_the_tenant_for_every_table_it_reads(sql: str, tmp_path: Path) -> None:
    store = Store(f"chdb://{tmp_path}")  # refused before any connection is made
    with pytest.raises(StoreError, match="every table it reads"):
        store.read(sql, "alpha")
