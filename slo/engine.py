"""The evaluation loop: SLIs into minute buckets, burn rates, alerts stepped minute by minute, notifications.

`evaluate_until(now)` is the whole engine as one synchronous call, so tests and the simulator can
drive it with a `ManualClock`: for each tenant it reads the minutes since its last evaluation
(plus `recent` minutes, for late events, and every `lookback_every` minutes the whole `lookback`)
with ONE query per SLO, then steps the alert state
machine at every evaluation instant (`TOWER_SLO_EVAL_INTERVAL_S`) up to `now`, so an alert
fires at the simulated minute it would have fired live, however far the clock jumped.
`start()` runs the same call in the background whenever the clock has moved a step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from slo import detections
from slo.alerts import Alert, AlertBook, Candidate, Dispatcher, Matcher, Silence
from slo.budget import ALL, Labels, MinuteBuckets, budget
from slo.burn_rate import WINDOWS, condition, rates, window_sums
from slo.notify import Delivery, Notifier, Receiver, render
from slo.openslo import SloDef
from slo.sli import minute_rows
from tower.clock import Clock
from tower.store import Store

log = logging.getLogger(__name__)
MINUTE = 60
EVALUATION_PACE = 3.0  # after an evaluation, wait at least this many times as long as it took
FULL_REFRESH_MIN_SECONDS = 60.0  # real seconds between two re-reads of the whole window


def to_minute(at: datetime) -> int:
    return int(at.timestamp()) // MINUTE


def from_minute(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * MINUTE, UTC)


@dataclass
class SliceSummary:
    labels: dict[str, str]
    good: int
    bad: int
    attainment: float | None
    budget_remaining: float
    burn_rates: dict[str, float]
    status: str


@dataclass
class TenantState:
    buckets: dict[str, MinuteBuckets]
    book: AlertBook
    dispatcher: Dispatcher
    next_step: int | None = None  # the next evaluation instant (Unix minute)
    full_refresh_at: int | None = None
    lookback_at: int | None = None  # the instant of the last evaluation that re-read the whole lookback
    full_refresh_wall: float = 0.0  # time.monotonic() of the last full refresh
    summaries: dict[str, list[SliceSummary]] = field(default_factory=dict)
    evaluated_at: datetime | None = None
    restored: bool = False  # alerts were loaded from the store: they are the history, not to be replayed


@dataclass
class EngineStats:
    evaluations: int = 0
    steps: int = 0
    queries: int = 0
    seconds: float = 0.0
    notifications: int = 0


class SloEngine:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        slos: list[SloDef],
        *,
        interval_s: int = 60,
        min_events: int = 10,
        min_bad_events: int = 2,
        lookback_minutes: int = 360,
        recent_minutes: int = 15,
        lookback_every_minutes: int = 15,
        backfill_minutes: int = 4320,
        full_refresh_minutes: int = 1440,
        receivers: list[Receiver] | None = None,
        notifier: Notifier | None = None,
        dispatcher_settings: dict[str, float] | None = None,
        calendars: detections.Calendars | None = None,
        missing_tracking_min: int = 5,
        external_url: str = "",
        persist: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.slos = {s.name: s for s in slos}
        self.interval = max(1, interval_s // MINUTE)
        self.min_events = min_events
        self.min_bad_events = min_bad_events
        self.lookback = lookback_minutes
        self.recent = min(recent_minutes, lookback_minutes)
        self.lookback_every = lookback_every_minutes
        self.backfill = backfill_minutes
        self.full_refresh = full_refresh_minutes
        self.receivers = receivers or []
        self.notifier = notifier or Notifier(on_result=self._record_delivery if persist else None)
        self.dispatcher_settings = dispatcher_settings or {}
        self.calendars = calendars or detections.Calendars.from_settings("*=06:00-22:00", "*=17:00", 6)
        self.missing_tracking_min = missing_tracking_min
        self.external_url = external_url
        self.persist = persist
        self.tenants: dict[str, TenantState] = {}
        self.stats = EngineStats()
        self._lock = threading.RLock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._tenants_read_at = -1e9
        self._tenants_read_clock: datetime | None = None
        self.keep_minutes = max((s.window_s for s in slos), default=30 * 86400) // MINUTE + 4320 + self.lookback

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, poll_seconds: float = 1.0) -> None:
        await asyncio.to_thread(self.load)
        self.notifier.start()
        self._task = asyncio.create_task(self._run(poll_seconds), name="slo-engine")

    async def close(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.notifier.close()

    async def _run(self, poll_seconds: float) -> None:
        while not self._stopping:
            began = time.perf_counter()
            try:
                now = self.clock.now()
                await asyncio.to_thread(self.evaluate_until, now)
            except Exception:
                log.exception("SLO evaluation failed; retrying")
            # An evaluation costs about the same whether the clock moved a minute or a day (its
            # queries read the lookback either way): when the clock runs fast (a simulation), wait
            # a few times as long as it took, so it takes at most a quarter of a core. Alerts still
            # start at the simulated minute they would have: each evaluation steps every minute.
            await asyncio.sleep(max(poll_seconds, EVALUATION_PACE * (time.perf_counter() - began)))

    def load(self) -> None:
        """Alerts (active, and the newest resolved ones) and silences from the store, after a restart."""
        if not self.persist:
            return
        for r in self.store.query_dicts(
            "SELECT * FROM {db}.slo_alerts FINAL WHERE state IN ('pending', 'firing', 'resolved') "
            "ORDER BY state = 'resolved', ends_at DESC LIMIT {n:UInt32} BY tenant, state = 'resolved'",
            {"n": 5_000},
            role="slo",
        ):
            state = self._tenant(r["tenant"])
            state.restored = True
            alert = _alert_from_row(r)
            if alert.state == "resolved":
                state.book.resolved.insert(0, alert)
            else:
                state.book.active[alert.fingerprint] = alert
        for r in self.store.query_dicts("SELECT * FROM {db}.slo_silences FINAL WHERE deleted = 0", role="slo"):
            self._tenant(r["tenant"]).book.silences[r["id"]] = _silence_from_row(r)

    def _tenant(self, tenant: str) -> TenantState:
        state = self.tenants.get(tenant)
        if state is None:
            state = self.tenants[tenant] = TenantState(
                buckets={name: MinuteBuckets(s.sli.slice_by) for name, s in self.slos.items()},
                book=AlertBook(),
                dispatcher=Dispatcher(**self.dispatcher_settings),  # type: ignore[arg-type]
            )
        return state

    def known_tenants(self, now: datetime | None = None) -> list[str]:
        """Tenants with journeys or integration events; the list is refreshed at most once a minute of
        wall time, and also whenever the evaluation clock moved an hour since (a simulator replays a
        month in minutes: a tenant it creates must not wait for a wall-clock minute, by then days old)."""
        moved = (
            now is not None
            and self._tenants_read_clock is not None
            and (now - self._tenants_read_clock).total_seconds() >= 3600
        )
        if time.monotonic() - self._tenants_read_at < 60 and not moved:
            return sorted(self.tenants)
        self._tenants_read_at = time.monotonic()
        self._tenants_read_clock = now
        rows = self.store.query(
            "SELECT DISTINCT tenant FROM {db}.journeys UNION DISTINCT "
            "SELECT DISTINCT tenant FROM {db}.events WHERE type IN {types:Array(String)}",
            {"types": ["inventory.snapshot", "sync.failed", "sync.acknowledged", "sync.dead_lettered"]},
            role="slo",
        )
        return sorted({r[0] for r in rows} | set(self.tenants))

    # --- evaluation ------------------------------------------------------------------------------

    def evaluate_until(self, now: datetime, tenants: list[str] | None = None) -> None:
        """Step every tenant's evaluation up to `now` (synchronous; tests and the simulator call it)."""
        with self._lock:
            started = time.perf_counter()
            for tenant in tenants if tenants is not None else self.known_tenants(now):
                self._evaluate_tenant(tenant, now)
            self.stats.seconds += time.perf_counter() - started

    def _evaluate_tenant(self, tenant: str, now: datetime) -> None:
        state = self._tenant(tenant)
        hi = to_minute(now)  # instants are minute boundaries; the minute in progress is not judged yet
        live_from = hi  # steps before this replay history: no notifications, no detection alerts
        if state.next_step is None:
            # First evaluation: replay the last `backfill` minutes so that recent incidents show as
            # alerts; unless alerts were restored from the store (a restart), which already are that history.
            state.next_step = hi if state.restored else hi - (self.backfill // self.interval) * self.interval
            lo = hi - self.keep_minutes
            state.full_refresh_at = hi
            state.full_refresh_wall = time.monotonic()
            state.lookback_at = hi
        else:
            if hi < state.next_step:
                return
            # Re-read the whole window once a (simulated) day, for events later than the lookback;
            # when the clock runs fast (a simulated month), at most once a minute of real time.
            full = state.full_refresh_at is None or (
                hi - state.full_refresh_at >= self.full_refresh
                and time.monotonic() - state.full_refresh_wall >= FULL_REFRESH_MIN_SECONDS
            )
            # The lookback's journeys are most of an evaluation's reads (a latency SLI reads every
            # journey started in it, by id): re-read it every `lookback_every` minutes; in between,
            # the last `recent` minutes, where almost every late event lands.
            whole = state.lookback_at is None or hi - state.lookback_at >= self.lookback_every
            back = self.lookback if whole else self.recent
            lo = hi - self.keep_minutes if full else state.next_step - self.interval - back
            if full:
                state.full_refresh_at = hi
                state.full_refresh_wall = time.monotonic()
            if full or whole:
                state.lookback_at = hi
            live_from = state.next_step
        for name, slo in self.slos.items():
            rows = minute_rows(self.store, tenant, slo.sli, lo, hi)
            self.stats.queries += 1
            state.buckets[name].replace(lo, hi, rows)
        steps = np.arange(state.next_step, hi + 1, self.interval, dtype=np.int64)
        if steps.size == 0:
            return
        series = self._conditions(state, steps) | self._detection_series(tenant, now, steps, live_from)
        self._step(tenant, state, steps, series, live_from)
        state.next_step = int(steps[-1]) + self.interval
        state.summaries = self._summaries(state, hi)
        state.evaluated_at = now
        for b in state.buckets.values():
            b.trim(hi - self.keep_minutes)
        self.stats.evaluations += 1
        self._persist_alerts(tenant, state.book.take_changed())

    def _conditions(self, state: TenantState, steps: np.ndarray) -> dict[str, tuple[np.ndarray, Candidate]]:
        """Per alert (SLO × slice × severity): whether it holds at each step, and what it would say."""
        out: dict[str, tuple[np.ndarray, Candidate]] = {}
        for name, slo in self.slos.items():
            buckets = state.buckets[name]
            if not slo.conditions:
                continue
            longest = max(c.long_s for c in slo.conditions) // MINUTE
            lo = int(steps[0]) - longest
            ends = steps - lo
            for key in list(buckets.series):
                counts = buckets.counts(key, lo, int(steps[-1]), slo.time_slice_target)
                by_severity: dict[str, tuple[np.ndarray, int, list[str]]] = {}
                for c in slo.conditions:
                    holds, long_rate, short_rate = condition(
                        counts,
                        ends,
                        slo.objective,
                        c.threshold,
                        c.long_s // MINUTE,
                        c.short_s // MINUTE,
                        self.min_events,
                        self.min_bad_events,
                    )
                    if not holds.any():
                        by_severity.setdefault(c.severity, (np.zeros(len(steps), bool), c.alert_after_s, []))
                        continue
                    prev, after, notes = by_severity.get(c.severity, (np.zeros(len(steps), bool), c.alert_after_s, []))
                    last = int(np.flatnonzero(holds)[-1])
                    notes.append(
                        f"{c.name}: burn rate {long_rate[last]:.1f} over {_span(c.long_s)} and "
                        f"{short_rate[last]:.1f} over {_span(c.short_s)} (threshold {c.threshold:g})"
                    )
                    by_severity[c.severity] = (prev | holds, min(after, c.alert_after_s), notes)
                for severity, (holds, after, notes) in by_severity.items():
                    if not holds.any():
                        continue
                    labels = {"alertname": "SLOBurnRate", "slo": name, "severity": severity, **dict(key)}
                    where = ", ".join(f"{k}={v}" for k, v in key) or "all traffic"
                    cand = Candidate(
                        labels,
                        {
                            "summary": f"{slo.display_name} is burning its error budget ({where})",
                            "description": "; ".join(notes),
                        },
                        after,
                    )
                    out[cand.fingerprint] = (holds, cand)
        return out

    def _detection_series(
        self, tenant: str, now: datetime, steps: np.ndarray, live_from: int
    ) -> dict[str, tuple[np.ndarray, Candidate]]:
        """Detection alerts per step, live steps only: shipments missing tracking per carrier, from the
        scan deadlines of the parcels still unscanned at the batch's `now`, so a ticket fires at the
        minute the deadlines pass however late the batch is evaluated."""
        if self.missing_tracking_min <= 0:
            return {}
        per_carrier = detections.missing_tracking_deadlines(self.store, tenant, now, self.calendars)
        self.stats.queries += 1
        out = {}
        instants = steps.astype(np.float64) * MINUTE
        for carrier, deadlines in per_carrier.items():
            past = np.searchsorted(np.sort(np.array(deadlines)), instants, side="left")  # deadlines before each step
            holds = (past >= self.missing_tracking_min) & (steps >= live_from)
            if not holds.any():
                continue
            n = int(past[-1])
            cand = Candidate(
                {"alertname": "ShipmentsMissingTracking", "severity": "ticket", "carrier": carrier},
                {
                    "summary": f"{n} shipments of {carrier or 'an unknown carrier'} have no carrier scan",
                    "description": "Manifested past the carrier's cut-off plus grace, and never scanned.",
                },
                0,
            )
            out[cand.fingerprint] = (holds, cand)
        return out

    def _step(
        self,
        tenant: str,
        state: TenantState,
        steps: np.ndarray,
        series: dict[str, tuple[np.ndarray, Candidate]],
        live_from: int,
    ) -> None:
        by_step: dict[int, list[str]] = {}
        for fp, (holds, _) in series.items():
            for idx in np.flatnonzero(holds).tolist():
                by_step.setdefault(idx, []).append(fp)
        book, dispatcher = state.book, state.dispatcher
        for i, minute in enumerate(steps.tolist()):
            live = minute >= live_from
            fps = by_step.get(i) or []
            if not fps and not book.active and not dispatcher.groups:
                continue
            at = from_minute(int(minute))
            candidates = {fp: series[fp][1] for fp in fps}
            book.step(at, candidates)
            if live:
                for n in dispatcher.tick(at, book):
                    self._notify(tenant, n)
            self.stats.steps += 1

    def _notify(self, tenant: str, n: Any) -> None:
        targets = list(self.receivers)
        slo = self.slos.get(n.group_labels.get("slo", ""))
        if slo is not None:
            for policy in slo.policies:
                for t in policy.targets:
                    fmt = {"webhook": "json", "slack": "slack", "alertmanager": "alertmanager"}.get(t.target)
                    if fmt and t.url:
                        targets.append(Receiver(t.name, fmt, t.url))
        for receiver in targets:
            self.stats.notifications += 1
            self.notifier.submit(
                Delivery(
                    receiver,
                    tenant,
                    n.group_key,
                    n.status,
                    len(n.alerts),
                    render(receiver, n, tenant, self.external_url),
                )
            )

    def _summaries(self, state: TenantState, hi: int) -> dict[str, list[SliceSummary]]:
        out: dict[str, list[SliceSummary]] = {}
        firing: dict[tuple[str, Labels], set[str]] = {}
        for a in state.book.active.values():
            if a.state == "firing" and a.labels.get("alertname") == "SLOBurnRate":
                key = tuple(sorted((k, v) for k, v in a.labels.items() if k not in ("alertname", "slo", "severity")))
                firing.setdefault((a.labels["slo"], key), set()).add(a.severity)
        for name, slo in self.slos.items():
            buckets = state.buckets[name]
            window = slo.window_s // MINUTE
            keys = sorted(buckets.series, key=lambda k: (len(k), k))
            if ALL not in keys:
                keys.insert(0, ALL)
            rows = []
            for key in keys:
                counts = buckets.counts(key, hi - window, hi, slo.time_slice_target)
                b = budget(counts, slo.objective)
                ends = np.array([counts.shape[1]])
                burn = {w: float(rates(counts, ends, m, slo.objective)[0][0]) for w, m in WINDOWS.items()}
                status = slice_status(firing.get((name, key), set()), b.remaining)
                rows.append(SliceSummary(dict(key), b.good, b.bad, b.attainment, b.remaining, burn, status))
            out[name] = rows
        return out

    # --- queries for the API ---------------------------------------------------------------------

    def series(
        self, tenant: str, name: str, labels: Labels, step_minutes: int, points: int = 200
    ) -> list[dict[str, Any]]:
        """Per step: good and bad in the step, budget left over the SLO window, 1h burn rate at its end."""
        with self._lock:
            state = self.tenants.get(tenant)
            slo = self.slos[name]
            if state is None or state.next_step is None:
                return []
            hi = state.next_step - self.interval  # the last instant evaluated
            lo = hi - step_minutes * points
            window = slo.window_s // MINUTE
            counts = state.buckets[name].counts(labels, lo - window, hi, slo.time_slice_target)
            ends = np.arange(window + step_minutes, window + (hi - lo) + 1, step_minutes)
            bad_w, total_w = _sums(counts, ends, window)
            burn_1h, _ = rates(counts, ends, 60, slo.objective)
            step_bad, step_total = _sums(counts, ends, step_minutes)
            items: list[dict[str, Any]] = []
            for j, e in enumerate(ends):
                if not total_w[j] and not items:
                    continue  # before the first event
                total = int(total_w[j])
                remaining = 1.0 - (bad_w[j] / total) / (1 - slo.objective) if total else 1.0
                items.append(
                    {
                        "t": from_minute(int(lo - window + e)).isoformat().replace("+00:00", "Z"),
                        "good": int(step_total[j] - step_bad[j]),
                        "bad": int(step_bad[j]),
                        "budget_remaining": float(remaining),
                        "burn_rate_1h": float(burn_1h[j]),
                    }
                )
            return items

    def alerts(self, tenant: str) -> list[Alert]:
        with self._lock:
            state = self.tenants.get(tenant)
            if state is None:
                return []
            return [*state.book.active.values(), *state.book.resolved]

    def acknowledge(self, tenant: str, alert_id: str, by: str, comment: str) -> Alert | None:
        with self._lock:
            state = self._tenant(tenant)
            alert = state.book.find(alert_id)
            if alert is None:
                return None
            alert.acknowledged_by, alert.acknowledged_at, alert.comment = by, self.clock.now(), comment
            self._persist_alerts(tenant, [alert])
            return alert

    def add_silence(self, tenant: str, silence: Silence) -> None:
        with self._lock:
            self._tenant(tenant).book.silences[silence.id] = silence
            self._persist_silence(tenant, silence)

    def delete_silence(self, tenant: str, silence_id: str) -> Silence | None:
        with self._lock:
            silence = self._tenant(tenant).book.silences.get(silence_id)
            if silence is None:
                return None
            silence.deleted = True
            self._persist_silence(tenant, silence)
            return silence

    def silences(self, tenant: str) -> list[Silence]:
        with self._lock:
            state = self.tenants.get(tenant)
            return list(state.book.silences.values()) if state else []

    # --- persistence -----------------------------------------------------------------------------

    def _persist_alerts(self, tenant: str, alerts: list[Alert]) -> None:
        alerts = [a for a in alerts if a.state != "dropped"]
        if not self.persist or not alerts:
            return
        version = time.time_ns()
        self.store.insert_rows(
            "slo_alerts",
            [
                [
                    tenant,
                    a.id,
                    version,
                    a.fingerprint,
                    a.labels,
                    a.annotations,
                    a.state,
                    a.severity,
                    a.starts_at,
                    a.fired_at,
                    a.ends_at,
                    a.updated_at or a.starts_at,
                    a.silenced_by,
                    a.inhibited_by,
                    a.acknowledged_by,
                    a.acknowledged_at,
                    a.comment,
                ]
                for a in alerts
            ],
            ALERT_COLUMNS,
            role="slo",
        )

    def _persist_silence(self, tenant: str, s: Silence) -> None:
        if not self.persist:
            return
        self.store.insert_rows(
            "slo_silences",
            [
                [
                    tenant,
                    s.id,
                    time.time_ns(),
                    orjson.dumps([m.to_dict() for m in s.matchers]).decode(),
                    s.starts_at,
                    s.ends_at,
                    s.created_by,
                    s.comment,
                    int(s.deleted),
                ]
            ],
            ["tenant", "id", "version", "matchers", "starts_at", "ends_at", "created_by", "comment", "deleted"],
            role="slo",
        )

    def _record_delivery(self, d: Delivery, attempt: int, ok: bool, error: str) -> None:
        self.store.insert_rows(
            "slo_notifications",
            [
                [
                    d.tenant,
                    datetime.now(UTC),
                    d.receiver.name,
                    d.receiver.url,
                    d.group_key,
                    d.status,
                    d.alerts,
                    attempt,
                    int(ok),
                    error,
                ]
            ],
            ["tenant", "at", "receiver", "url", "group_key", "status", "alerts", "attempt", "ok", "error"],
            role="slo-notify",
        )


ALERT_COLUMNS = [
    "tenant",
    "id",
    "version",
    "fingerprint",
    "labels",
    "annotations",
    "state",
    "severity",
    "starts_at",
    "fired_at",
    "ends_at",
    "updated_at",
    "silenced_by",
    "inhibited_by",
    "acknowledged_by",
    "acknowledged_at",
    "comment",
]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _alert_from_row(r: dict[str, Any]) -> Alert:
    return Alert(
        id=r["id"],
        fingerprint=r["fingerprint"],
        labels=dict(r["labels"]),
        annotations=dict(r["annotations"]),
        state=r["state"],
        starts_at=_utc(r["starts_at"]) or datetime.now(UTC),
        fired_at=_utc(r["fired_at"]),
        ends_at=_utc(r["ends_at"]),
        updated_at=_utc(r["updated_at"]),
        silenced_by=list(r["silenced_by"]),
        inhibited_by=list(r["inhibited_by"]),
        acknowledged_by=r["acknowledged_by"],
        acknowledged_at=_utc(r["acknowledged_at"]),
        comment=r["comment"],
    )


def _silence_from_row(r: dict[str, Any]) -> Silence:
    return Silence(
        id=r["id"],
        matchers=tuple(Matcher.parse(m, "matchers") for m in orjson.loads(r["matchers"])),
        starts_at=_utc(r["starts_at"]) or datetime.now(UTC),
        ends_at=_utc(r["ends_at"]) or datetime.now(UTC),
        created_by=r["created_by"],
        comment=r["comment"],
        deleted=bool(r["deleted"]),
    )


def slice_status(firing: set[str], budget_remaining: float) -> str:
    """`page` while a page fires; `ticket` while a ticket fires or the error budget is overspent (the
    SLO is breached over its window even when no burn is fast enough to alert now); else `ok`."""
    if "page" in firing:
        return "page"
    if firing or budget_remaining < 0:
        return "ticket"
    return "ok"


def _sums(counts: np.ndarray, ends: np.ndarray, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    return window_sums(counts, ends, minutes)


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def build_engine(store: Store, clock: Clock, settings: Any) -> SloEngine:
    """The engine as `TOWER_*` settings configure it: shipped SLOs plus `TOWER_SLO_DIR`."""
    from slo.notify import parse_receivers
    from slo.openslo import load_definitions

    loaded = load_definitions(settings.slo_dir)
    for refusal in loaded.refused:
        log.error("SLO definition refused: %s", refusal)
    return SloEngine(
        store,
        clock,
        loaded.slos,
        interval_s=settings.slo_eval_interval_s,
        min_events=settings.slo_min_events,
        min_bad_events=settings.slo_min_bad_events,
        lookback_minutes=settings.slo_lookback_minutes,
        recent_minutes=settings.slo_recent_minutes,
        lookback_every_minutes=settings.slo_lookback_every_minutes,
        backfill_minutes=settings.slo_backfill_minutes,
        receivers=parse_receivers(settings.alert_webhooks),
        dispatcher_settings={
            "group_wait": settings.alert_group_wait_s,
            "group_interval": settings.alert_group_interval_s,
            "repeat_interval": settings.alert_repeat_interval_s,
        },
        calendars=detections.Calendars.from_settings(
            settings.warehouse_shifts, settings.carrier_cutoffs, settings.scan_grace_hours
        ),
        missing_tracking_min=settings.missing_tracking_alert_min,
        external_url=f"http://{settings.host}:{settings.port}",
    )
