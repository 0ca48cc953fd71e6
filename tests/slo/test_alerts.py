"""Alertmanager semantics: lifecycle, identity, silences with expiry, inhibition, grouping and timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slo.alerts import AlertBook, Candidate, Dispatcher, Matcher, Silence, fingerprint
from tower.clock import ManualClock

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def cand(for_s: int = 120, **labels: str) -> Candidate:
    base = {"alertname": "SLOBurnRate", "slo": "order-acceptance", "severity": "page"}
    return Candidate({**base, **labels}, {"summary": "burning"}, for_s)


def step(book: AlertBook, clock: ManualClock, *cands: Candidate) -> None:
    book.step(clock.now(), {c.fingerprint: c for c in cands})
    clock.advance(timedelta(minutes=1))


def test_pending_then_firing_after_its_for_then_resolved() -> None:
    clock, book = ManualClock(T0), AlertBook()
    c = cand(for_s=120, channel="edi")
    step(book, clock, c)
    (alert,) = book.active.values()
    assert alert.state == "pending" and alert.starts_at == T0
    step(book, clock, c)
    assert alert.state == "pending"
    step(book, clock, c)  # two minutes after it started holding
    assert alert.state == "firing" and alert.fired_at == T0 + timedelta(minutes=2)
    step(book, clock)  # no longer holds
    assert alert.state == "resolved" and alert.ends_at == T0 + timedelta(minutes=3) and not book.active
    # the same labels again: same fingerprint, a new alert
    step(book, clock, c)
    (again,) = book.active.values()
    assert again.fingerprint == alert.fingerprint == fingerprint(c.labels) and again.id != alert.id


def test_a_pending_alert_that_stops_holding_is_dropped_not_resolved() -> None:
    clock, book = ManualClock(T0), AlertBook()
    step(book, clock, cand(for_s=300))
    step(book, clock)
    assert not book.active and not book.resolved


def test_identity_is_the_label_set_whatever_the_order() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "b": ""})


def test_silence_mutes_while_active_and_expires() -> None:
    clock, book = ManualClock(T0), AlertBook()
    book.silences["s"] = Silence(
        "s", (Matcher("channel", "ed.", is_regex=True),), T0, T0 + timedelta(minutes=3), "ops", "maintenance"
    )
    c = cand(for_s=0, channel="edi")
    step(book, clock, c, cand(for_s=0, channel="web"))
    by_channel = {a.labels["channel"]: a for a in book.active.values()}
    assert by_channel["edi"].silenced_by == ["s"] and by_channel["web"].silenced_by == []
    for _ in range(3):
        step(book, clock, c, cand(for_s=0, channel="web"))
    assert by_channel["edi"].silenced_by == []  # at T0+3m the silence has expired
    assert book.silences["s"].state(clock.now()) == "expired"


def test_carrier_outage_inhibits_missing_tracking_for_that_carrier_only() -> None:
    clock, book = ManualClock(T0), AlertBook()
    outage = cand(for_s=0, slo="integration-errors", carrier="ups")
    missing_ups = Candidate({"alertname": "ShipmentsMissingTracking", "severity": "ticket", "carrier": "ups"}, {}, 0)
    missing_fedex = Candidate(
        {"alertname": "ShipmentsMissingTracking", "severity": "ticket", "carrier": "fedex"}, {}, 0
    )
    step(book, clock, outage, missing_ups, missing_fedex)
    alerts = {(a.labels["alertname"], a.labels["carrier"]): a for a in book.active.values()}
    source = alerts[("SLOBurnRate", "ups")]
    assert alerts[("ShipmentsMissingTracking", "ups")].inhibited_by == [source.id]
    assert alerts[("ShipmentsMissingTracking", "fedex")].inhibited_by == []
    step(book, clock, missing_ups, missing_fedex)  # the outage resolved: no longer inhibited
    assert alerts[("ShipmentsMissingTracking", "ups")].inhibited_by == []


def test_a_pending_source_does_not_inhibit() -> None:
    clock, book = ManualClock(T0), AlertBook()
    step(
        book,
        clock,
        cand(for_s=600, carrier="ups"),
        Candidate({"alertname": "ShipmentsMissingTracking", "severity": "ticket", "carrier": "ups"}, {}, 0),
    )
    target = next(a for a in book.active.values() if a.labels["alertname"] == "ShipmentsMissingTracking")
    assert target.state == "firing" and target.inhibited_by == []


def test_grouping_waits_then_batches_then_repeats_then_resolves() -> None:
    clock, book = ManualClock(T0), AlertBook()
    d = Dispatcher(group_wait=120, group_interval=300, repeat_interval=1800)
    sent: list[tuple[int, str, list[str]]] = []

    def tick(*cands: Candidate) -> None:
        book.step(clock.now(), {c.fingerprint: c for c in cands})
        for n in d.tick(clock.now(), book):
            minute = int((n.at - T0).total_seconds() // 60)
            sent.append((minute, n.status, sorted(a.labels.get("channel", "") + ":" + a.state for a in n.alerts)))
        clock.advance(timedelta(minutes=1))

    edi, web = cand(for_s=0, channel="edi"), cand(for_s=0, channel="web")
    tick(edi)  # minute 0: group appears, waits 2 minutes
    tick(edi, web)  # minute 1: a second alert joins within group_wait
    tick(edi, web)  # minute 2: first notification with both
    for _ in range(3, 40):
        tick(edi, web)  # unchanged: repeated after 30 minutes, at the next group_interval tick
    for _ in range(40, 50):
        tick(web)  # edi resolved at minute 40: notified at the next interval tick
    for _ in range(50, 60):
        tick()
    assert sent == [
        (2, "firing", ["edi:firing", "web:firing"]),
        (32, "firing", ["edi:firing", "web:firing"]),
        (42, "firing", ["edi:resolved", "web:firing"]),
        (52, "resolved", ["web:resolved"]),
    ]
    assert not d.groups
