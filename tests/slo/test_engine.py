"""The engine stepped through simulated time: an ERP outage pages within minutes and resolves after,
whether the clock moves minute by minute or jumps; notifications reach a real HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from collector.app import MIGRATIONS
from slo.alerts import Matcher, Silence
from slo.engine import SloEngine
from slo.notify import Notifier, Receiver
from slo.openslo import load_definitions, load_text
from slo.schema import MIGRATIONS as SLO_MIGRATIONS
from tests.conftest import wait_for
from tower.clock import ManualClock
from tower.store import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CHANNELS = ("web", "edi", "marketplace")
OUTAGE = (120, 150)  # minutes after T0 during which the ERP accepts nothing


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("slo-engine")
    s = Store(f"chdb://{path / 'ch'}")
    s.migrate(MIGRATIONS)
    assert {m.number for m in SLO_MIGRATIONS} <= {m.number for m in MIGRATIONS}
    yield s
    s.close()


def load_outage(store: Store, tenant: str, minutes: int = 240) -> None:
    """Three orders a minute (one per channel), each accepted a minute later, except during the outage:
    what was received from minute 119 on is accepted when the ERP comes back at minute 150."""
    events, journeys = [], []
    for r in range(minutes):
        for ch in CHANNELS:
            jid = f"order-{ch}-{r}"
            accepted = r + 1 if r + 1 < OUTAGE[0] else max(OUTAGE[1], r + 1)
            events.append([tenant, jid, at(r), "shop", f"r-{jid}", 0, "order.received"])
            events.append([tenant, jid, at(accepted), "erp", f"a-{jid}", 0, "order.accepted"])
            journeys.append([tenant, jid, 1, 1, "accepted", "open", ch, "dc-east", "", at(r), at(r)])
    insert_journeys(store, events, journeys)


EVENT_COLUMNS = ["tenant", "journey_id", "time", "source", "event_id", "seq", "type"]
JOURNEY_COLUMNS = [
    "tenant",
    "journey_id",
    "version",
    "alive",
    "stage",
    "status",
    "channel",
    "warehouse",
    "carrier",
    "started_at",
    "last_event_at",
]


def insert_journeys(store: Store, events: list[list[Any]], journeys: list[list[Any]]) -> None:
    """Membership rows (EVENT_COLUMNS) and journey rows (JOURNEY_COLUMNS), as the correlator writes them."""
    store.insert_rows("journey_events", events, EVENT_COLUMNS, role="writer")
    store.insert_rows("journeys", journeys, JOURNEY_COLUMNS, role="writer")


class Receiving:
    """A real HTTP server collecting what webhooks post."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def engine_for(store: Store, clock: ManualClock, receivers: list[Receiver] | None = None) -> SloEngine:
    slos = [s for s in load_definitions().slos if s.name == "order-acceptance"]
    engine = SloEngine(
        store,
        clock,
        slos,
        receivers=receivers,
        notifier=Notifier(backoff=0.05),
        missing_tracking_min=0,
        persist=False,
    )
    engine.notifier.start()
    return engine


def page(engine: SloEngine, tenant: str, labels: dict[str, str] | None = None) -> Any:
    want = {"alertname": "SLOBurnRate", "slo": "order-acceptance", "severity": "page", **(labels or {})}
    return [a for a in engine.alerts(tenant) if a.labels == want]


def test_an_outage_pages_within_minutes_and_resolves_after(store: Store) -> None:
    load_outage(store, "outage")
    clock = ManualClock(at(0))
    engine = engine_for(store, clock)
    seen: dict[int, str] = {}
    for minute in range(0, 240):
        clock.set(at(minute))
        engine.evaluate_until(clock.now(), ["outage"])
        alerts = page(engine, "outage")
        if alerts:
            seen[minute] = alerts[-1].state
    # Hand-computed: bad events land at received + 5 min for orders received 119..144, i.e. minutes
    # 124..149, three a minute; minutes 120..123 hold no event at all. At instant 128 the last hour
    # holds 12 bad of 162 (burn (12/162)/0.005 = 14.8 ≥ 14.4) and the last 5 minutes 12 of 12: the page
    # fires (alertAfter 0m), 8 minutes into the outage. Fast burn clears at 155, but the slow page (6x
    # over 6h and 30m) holds until the 30-minute window's bad share drops under 3%: minute 179.
    assert min(seen) == 128 and seen[128] == "firing"
    alert = page(engine, "outage")[-1]
    assert alert.starts_at == at(128) and alert.fired_at == at(128) and alert.ends_at == at(179)
    assert alert.state == "resolved" and "page-slow-burn" in alert.annotations["description"]  # the last to clear
    for ch in CHANNELS:  # every channel slice saw the same share of failures
        assert page(engine, "outage", {"channel": ch})[-1].fired_at == at(128)
    # Once the page resolved, the ticket (1x over 3 days) still fires, no longer inhibited.
    tickets = [a for a in engine.alerts("outage") if a.severity == "ticket" and a.state == "firing"]
    assert len(tickets) == 5 and not any(a.inhibited_by for a in tickets)
    engine.notifier.close()


def test_a_clock_jump_gives_the_same_alerts_as_minute_steps(store: Store) -> None:
    load_outage(store, "jump")
    clock = ManualClock(at(0))
    engine = engine_for(store, clock)
    engine.evaluate_until(at(0), ["jump"])
    engine.evaluate_until(at(239), ["jump"])  # one jump over the whole incident
    alert = page(engine, "jump")[-1]
    assert (alert.starts_at, alert.fired_at, alert.ends_at) == (at(128), at(128), at(179))
    engine.notifier.close()


def test_a_first_evaluation_after_the_incident_replays_it_without_notifying(store: Store) -> None:
    load_outage(store, "late")
    hook = Receiving()
    try:
        engine = engine_for(store, ManualClock(at(239)), [Receiver("am", "alertmanager", hook.url)])
        engine.evaluate_until(at(239), ["late"])  # never evaluated before: the last 3 days are replayed
        alert = page(engine, "late")[-1]
        assert (alert.starts_at, alert.fired_at, alert.ends_at) == (at(128), at(128), at(179))
        engine.evaluate_until(at(245), ["late"])
        engine.notifier.close()
        assert not [b for b in hook.bodies if b["commonLabels"].get("severity") == "page"]
    finally:
        hook.close()


def test_low_traffic_guard_keeps_a_quiet_slice_from_paging(store: Store) -> None:
    # Three orders a night, the last never accepted: bad at minute 7, when the 5-minute window holds
    # only it (burn 200x) and the hour 1 bad of 3 (66.7x), but the hour's 3 events are below the
    # minimum of 10: no page.
    rows, journeys = [], []
    for i, minute in enumerate((0, 1, 2)):
        jid = f"night-{i}"
        rows.append(["quiet", jid, at(minute), "shop", f"r{i}", 0, "order.received"])
        if i < 2:
            rows.append(["quiet", jid, at(minute + 1), "erp", f"a{i}", 0, "order.accepted"])
        journeys.append(["quiet", jid, 1, 1, "open", "web", at(minute)])
    store.insert_rows(
        "journey_events", rows, ["tenant", "journey_id", "time", "source", "event_id", "seq", "type"], role="writer"
    )
    store.insert_rows(
        "journeys",
        journeys,
        ["tenant", "journey_id", "version", "alive", "status", "channel", "started_at"],
        role="writer",
    )
    clock = ManualClock(at(0))
    engine = engine_for(store, clock)
    engine.evaluate_until(at(0), ["quiet"])
    engine.evaluate_until(at(60), ["quiet"])
    summary = next(s for s in engine.tenants["quiet"].summaries["order-acceptance"] if not s.labels)
    assert (summary.good, summary.bad) == (2, 1)
    assert summary.burn_rates["1h"] == pytest.approx((1 / 3) / 0.005)
    assert not [a for a in engine.alerts("quiet") if a.severity == "page"]
    engine.min_events = 3  # with the events guard lowered, one failure still does not page…
    engine.tenants.clear()
    engine.evaluate_until(at(0), ["quiet"])
    engine.evaluate_until(at(60), ["quiet"])
    assert not [a for a in engine.alerts("quiet") if a.severity == "page"]
    engine.min_bad_events = 1  # …until the bad-events guard is lowered too
    engine.tenants.clear()
    engine.evaluate_until(at(0), ["quiet"])
    engine.evaluate_until(at(60), ["quiet"])
    paged = [a for a in engine.alerts("quiet") if a.severity == "page" and a.labels.get("channel") == "web"]
    assert paged and paged[0].starts_at == at(8) and paged[0].fired_at == at(8)
    engine.notifier.close()


def test_notifications_reach_a_real_receiver_firing_then_resolved_none_when_silenced(store: Store) -> None:
    load_outage(store, "notify")
    hook = Receiving()
    try:
        clock = ManualClock(at(0))
        receivers = [Receiver("am", "alertmanager", hook.url), Receiver("slack", "slack", hook.url)]
        engine = engine_for(store, clock, receivers)
        engine.add_silence(
            "notify",
            Silence("s1", (Matcher("channel", "edi"),), at(0), at(1000), "ops", "EDI partner maintenance"),
        )
        for minute in range(0, 240, 3):
            engine.evaluate_until(at(minute), ["notify"])
        am = wait_for(
            lambda: (
                [b for b in hook.bodies if "groupKey" in b and b["commonLabels"].get("severity") == "page"]
                if len([b for b in hook.bodies if "groupKey" in b]) >= 2
                else None
            ),
            timeout=10,
        )
        firing, resolved = am[0], am[-1]
        assert firing["status"] == "firing" and resolved["status"] == "resolved"
        labels = [a["labels"] for a in firing["alerts"]]
        assert {tuple(sorted(x.items())) for x in labels} == {
            tuple(sorted({"alertname": "SLOBurnRate", "slo": "order-acceptance", "severity": "page", **extra}.items()))
            for extra in ({}, {"channel": "web"}, {"channel": "marketplace"}, {"warehouse": "dc-east"})
        }  # the silenced EDI slice is left out
        assert all(a["status"] == "resolved" and a["endsAt"] != "0001-01-01T00:00:00Z" for a in resolved["alerts"])
        # Tickets were inhibited while the page fired: their first notification comes after the page resolved.
        kinds = [(b["commonLabels"].get("severity"), b["status"]) for b in hook.bodies if "groupKey" in b]
        assert kinds.index(("ticket", "firing")) > kinds.index(("page", "resolved"))
        slack = [b for b in hook.bodies if "attachments" in b]
        assert slack and slack[0]["text"].startswith("[FIRING] SLOBurnRate order-acceptance")
        edi = page(engine, "notify", {"channel": "edi"})[-1]
        assert edi.silenced_by == ["s1"] or edi.state == "resolved"
        engine.notifier.close()
    finally:
        hook.close()


def test_defaults_dir_exists() -> None:
    assert (Path(__file__).resolve().parents[2] / "slo" / "defaults" / "order-acceptance.yaml").exists()


def test_timeslices_budget_counts_bad_minutes(store: Store) -> None:
    load_outage(store, "slices")
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: acceptance-minutes}
spec:
  service: order-to-cash
  indicator:
    metadata: {name: acceptance}
    spec:
      thresholdMetric:
        metricSource:
          type: ControlTower
          spec: {segment: {from: order.received, to: order.accepted}, threshold: 5m, sliceBy: [channel]}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives: [{target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 1m}]
"""
    (slo,) = load_text(text).slos
    engine = SloEngine(store, ManualClock(at(0)), [slo], missing_tracking_min=0, persist=False)
    engine.evaluate_until(at(0), ["slices"])
    engine.evaluate_until(at(240), ["slices"])
    overall = next(s for s in engine.tenants["slices"].summaries["acceptance-minutes"] if not s.labels)
    # minutes 124..149 held only failures: 26 bad minutes; every other minute of the 30 days is good
    # (a minute without events too)
    assert (overall.good, overall.bad) == (30 * 1440 - 26, 26)
    assert overall.budget_remaining == pytest.approx(1 - (26 / (30 * 1440)) / 0.01)
    engine.notifier.close()


def load_warehouse_flows(store: Store, tenant: str, failing: tuple[int, int]) -> None:
    """A warehouse system over four hours: the integration platform runs its confirmation import every
    5 minutes (acknowledged, or failed within `failing`), the warehouse reports its stock every 10
    minutes and sends a pick confirmation every 2 minutes (delivered business events: its good steps);
    and the ERP's order import, whose failures alone the platform reports (never an acknowledgement)."""
    rows = []

    def add(source: str, event_id: str, etype: str, minute: float, data: dict[str, Any]) -> None:
        payload = json.dumps({"source": source, "id": event_id, "type": etype, "data": data})
        rows.append([tenant, source, event_id, 0, etype, at(minute), at(minute), "", 0, payload])

    for m in range(0, 240, 5):
        facts = {"system": "wms/dc-east", "operation": "fulfillment.confirmations"}
        if failing[0] <= m < failing[1]:
            add("ipaas/celigo", f"import-{m}", "sync.failed", m + 0.5, {"facts": {**facts, "error": "timed out"}})
        else:
            add("ipaas/celigo", f"import-{m}", "sync.acknowledged", m + 0.5, {"facts": facts})
    for m in range(0, 240, 10):
        stock = {"system": "wms/dc-east", "warehouse": "dc-east", "sku": "A"}
        add("wms/dc-east", f"stock-{m}", "inventory.snapshot", m, {"facts": stock})
    for m in range(0, 240, 2):
        add("wms/dc-east", f"pick-{m}", "fulfillment.picked", m + 1, {"dims": {"system": "wms/dc-east"}})
    for m in range(failing[0], failing[1], 3):
        facts = {"system": "erp", "operation": "order.import", "error": "429 Too Many Requests"}
        add("ipaas/celigo", f"erp-{m}", "sync.failed", m + 0.2, {"facts": facts})
    cols = ["tenant", "source", "id", "seq", "type", "time", "ingested_at", "traceparent", "key_hash", "payload"]
    store.insert_rows("events", rows, cols, role="writer")


def test_one_failing_flow_pages_on_its_own_slice_before_its_system_does(store: Store) -> None:
    """A warehouse's confirmation import fails from minute 120 while its stock reports and picks keep
    coming: the flow `wms/dc-east:fulfillment.confirmations` is its own slice with its own budget."""
    load_warehouse_flows(store, "flows", (120, 180))
    (slo,) = [s for s in load_definitions().slos if s.name == "integration-errors"]
    engine = SloEngine(store, ManualClock(at(0)), [slo], missing_tracking_min=0, persist=False)
    engine.evaluate_until(at(0), ["flows"])
    for minute in range(1, 240):
        engine.evaluate_until(at(minute), ["flows"])

    def pages(**labels: str) -> list[Any]:
        want = {"alertname": "SLOBurnRate", "slo": "integration-errors", "severity": "page", **labels}
        return [a for a in engine.alerts("flows") if a.labels == want]

    # Hand-computed. The flow's last hour before the outage holds its 12 acknowledged runs. Failures
    # land at 120.5, 125.5, …: at instant 126 the hour holds 2 bad of 13 (15.4 % = burn 15.4 ≥ 14.4)
    # and the 5 minutes 1 of 1, and the guard's 2 bad events are there: the page fires 6 minutes in.
    (flow,) = pages(flow="wms/dc-east:fulfillment.confirmations")
    assert (flow.fired_at, flow.state) == (at(126), "resolved")
    # The fast burn clears at instant 185, when the 5 minutes hold only the run at 180.5; the slow page
    # (6x over 6 h and over 30 min) holds while the 30 minutes still see the failure at 175.5: until 206.
    assert flow.ends_at == at(206)
    # The system's slice also counts its 6 stock reports and 30 picks an hour: 2 failures are 2 of 48
    # (burn 4.2); its page waits until the hour holds 14.4 % failures, 7 of 48, at instant 151.
    (system,) = pages(system="wms/dc-east")
    assert system.fired_at == at(151)
    # The ERP's order import reports only failures: no acknowledged run to measure them against, so
    # it is no flow of its own; its failures count in the ERP's slice (where they are all there is).
    assert not [a for a in engine.alerts("flows") if a.labels.get("flow", "").startswith("erp:")]
    flows = {s.labels.get("flow") for s in engine.tenants["flows"].summaries["integration-errors"]}
    assert flows == {None, "wms/dc-east:fulfillment.confirmations"}
    engine.notifier.close()


def test_evaluations_between_lookbacks_read_recent_minutes_and_a_later_event_still_counts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every minute re-reads the last `recent` minutes; every `lookback_every` minutes the whole
    lookback. An event an hour late is missed by the minutes in between, and counted at the next
    whole read, in the minute it belongs to."""
    import slo.engine as engine_module

    load_outage(store, "cadence", minutes=100)
    clock = ManualClock(at(0))
    engine = SloEngine(
        store,
        clock,
        [s for s in load_definitions().slos if s.name == "order-acceptance"],
        lookback_minutes=360,
        recent_minutes=15,
        lookback_every_minutes=15,
        missing_tracking_min=0,
        persist=False,
    )
    windows: list[tuple[int, int]] = []
    read = engine_module.minute_rows
    monkeypatch.setattr(
        engine_module, "minute_rows", lambda s, t, sli, lo, hi: windows.append((hi - lo, hi)) or read(s, t, sli, lo, hi)
    )

    def totals() -> tuple[int, int]:
        summary = next(s for s in engine.tenants["cadence"].summaries["order-acceptance"] if not s.labels)
        return summary.good, summary.bad

    engine.evaluate_until(at(100), ["cadence"])  # the first evaluation reads the whole window
    first = totals()
    for minute in range(101, 110):
        engine.evaluate_until(at(minute), ["cadence"])
    spans = [span for span, _ in windows[1:]]
    assert spans == [1 + 15] * 9  # each: its own minute and the 15 before it
    assert first == (297, 0) and totals() == (300, 0)  # every order accepted in time: none lost or counted twice

    # An order received at minute 40 and never accepted arrives now: bad at minute 45, an hour ago.
    insert_journeys(
        store,
        [["cadence", "order-late", at(40), "shop", "r-order-late", 0, "order.received"]],
        [["cadence", "order-late", 1, 1, "received", "open", "web", "dc-east", "", at(40), at(40)]],
    )
    engine.evaluate_until(at(110), ["cadence"])
    assert totals() == (300, 0)  # minute 45 is before the recent minutes: not read yet
    for minute in range(111, 116):
        engine.evaluate_until(at(minute), ["cadence"])
    assert windows[-1][0] == 1 + 360  # 15 minutes after the first evaluation: the whole lookback
    assert totals() == (300, 1)  # and the late order counts, bad
    engine.notifier.close()


def test_reads_bounded_in_memory_give_the_same_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A latency SLI read in pieces (here 7 minutes, a week in the product) gives the rows of one read;
    a success ratio whose aggregation spills to disk (here past 1 byte) gives the rows it gives in memory."""
    from slo import sli as sli_module

    load_outage(store, "pieces")
    load_warehouse_flows(store, "spills", (120, 180))
    slos = {s.name: s for s in load_definitions().slos}
    lo, hi = int(at(0).timestamp()) // 60, int(at(240).timestamp()) // 60

    def read(tenant: str, name: str) -> list[Any]:
        return sorted(sli_module.minute_rows(store, tenant, slos[name].sli, lo, hi))

    whole = read("pieces", "order-acceptance")
    monkeypatch.setattr(sli_module, "LATENCY_PIECE_US", 7 * sli_module.MINUTE_US)
    assert read("pieces", "order-acceptance") == whole and len(whole) > 100

    in_memory = read("spills", "integration-errors")
    spill = f"max_bytes_before_external_group_by = {sli_module.SPILL_BYTES}"
    assert spill in sli_module.RATIO_BY_FLOW_SQL
    monkeypatch.setattr(
        sli_module,
        "RATIO_BY_FLOW_SQL",
        sli_module.RATIO_BY_FLOW_SQL.replace(spill, "max_bytes_before_external_group_by = 1"),
    )
    assert read("spills", "integration-errors") == in_memory and len(in_memory) > 100
