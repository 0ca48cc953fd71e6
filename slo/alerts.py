"""Alerts with Alertmanager's semantics, stepped through the evaluation clock.

- Identity is the label set: the fingerprint of the sorted labels. The same labels firing again
  after resolving is the same fingerprint, a new alert (new id, new `starts_at`).
- Lifecycle (Prometheus rules + Alertmanager): a condition that starts holding makes a *pending*
  alert; held for its `for` duration it is *firing*; when it stops holding a firing alert is
  *resolved* (a pending one is dropped).
- Silences mute alerts whose labels match all their matchers while the silence is active
  (`starts_at` ≤ now < `ends_at`); inhibition rules mute a target alert while a firing source alert
  has the same values of the `equal` labels (a missing label counts as empty, as in Alertmanager).
- Grouping (`Dispatcher`): alerts with the same values of `group_by` form a group; its first
  notification waits `group_wait` after the group appears, later ones go out at most every
  `group_interval` when the group changed, and every `repeat_interval` while it keeps firing.
  Muted alerts are left out; a resolved alert is notified once if it had been notified firing.

Every method takes `now`: the engine steps it minute by minute through simulated time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def fingerprint(labels: dict[str, str]) -> str:
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Candidate:
    """A condition holding now: the alert it asks for."""

    labels: dict[str, str]
    annotations: dict[str, str]
    for_seconds: int = 0

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


@dataclass
class Alert:
    id: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending | firing | resolved
    starts_at: datetime  # when the condition started holding (Prometheus' activeAt)
    fired_at: datetime | None = None
    ends_at: datetime | None = None
    updated_at: datetime | None = None
    for_seconds: int = 0
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    comment: str = ""

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.is_regex else actual == self.value
        return hit if self.is_equal else not hit

    @classmethod
    def parse(cls, item: Any, where: str) -> Matcher:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value"), str)
        ):
            raise ValueError(f"{where}: a matcher is {{'name': str, 'value': str, 'is_regex': bool}}")
        matcher = cls(item["name"], item["value"], bool(item.get("is_regex", False)), bool(item.get("is_equal", True)))
        if matcher.is_regex:
            try:
                re.compile(matcher.value)
            except re.error as exc:
                raise ValueError(f"{where}.value: {matcher.value!r} is not a regular expression: {exc}") from None
        return matcher

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "is_regex": self.is_regex, "is_equal": self.is_equal}


@dataclass
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""
    deleted: bool = False

    def active(self, now: datetime) -> bool:
        return not self.deleted and self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> str:
        if self.deleted or now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


# An SLO page inhibits the ticket of the same SLO and slice; a carrier's outage (a page sliced by that
# carrier) inhibits "shipments missing tracking" for that carrier: the cause is already paging.
SLICE_LABELS = ("channel", "warehouse", "carrier", "system")
DEFAULT_INHIBIT_RULES = (
    InhibitRule(
        source=(Matcher("alertname", "SLOBurnRate"), Matcher("severity", "page")),
        target=(Matcher("alertname", "SLOBurnRate"), Matcher("severity", "ticket")),
        equal=("slo", *SLICE_LABELS),
    ),
    InhibitRule(
        source=(Matcher("severity", "page"), Matcher("carrier", ".+", is_regex=True)),
        target=(Matcher("alertname", "ShipmentsMissingTracking"),),
        equal=("carrier",),
    ),
)


class AlertBook:
    """The alerts of one tenant: active ones by fingerprint, resolved ones as history."""

    def __init__(self, inhibit_rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES, history: int = 5_000) -> None:
        self.active: dict[str, Alert] = {}
        self.resolved: list[Alert] = []
        self.silences: dict[str, Silence] = {}
        self.inhibit_rules = inhibit_rules
        self.history = history
        self.changed: dict[str, Alert] = {}  # by id, since the last `take_changed`
        self._muted_for: tuple[Any, ...] | None = None

    def step(self, now: datetime, candidates: dict[str, Candidate]) -> None:
        for fp, cand in candidates.items():
            alert = self.active.get(fp)
            if alert is None:
                alert = Alert(
                    id=f"{fp}-{int(now.timestamp())}",
                    fingerprint=fp,
                    labels=dict(cand.labels),
                    annotations=dict(cand.annotations),
                    state="pending",
                    starts_at=now,
                    updated_at=now,
                    for_seconds=cand.for_seconds,
                )
                self.active[fp] = alert
                self._changed(alert)
            elif alert.annotations != cand.annotations:
                alert.annotations = dict(cand.annotations)
            if alert.state == "pending" and now - alert.starts_at >= timedelta(seconds=alert.for_seconds):
                alert.state, alert.fired_at, alert.updated_at = "firing", now, now
                self._changed(alert)
        for fp in [fp for fp in self.active if fp not in candidates]:
            alert = self.active.pop(fp)
            if alert.state == "firing":
                alert.state, alert.ends_at, alert.updated_at = "resolved", now, now
                self.resolved.append(alert)
                del self.resolved[: -self.history]
            else:
                alert.state, alert.ends_at, alert.updated_at = "dropped", now, now
            self._changed(alert)
        self._mute(now)

    def _mute(self, now: datetime) -> None:
        active_silences = tuple(sorted(i for i, sil in self.silences.items() if sil.active(now)))
        signature = (active_silences, tuple((fp, a.state) for fp, a in self.active.items()))
        if signature == self._muted_for:
            return  # the same alerts in the same states under the same silences: nothing to redo
        self._muted_for = signature
        firing = [a for a in self.active.values() if a.state == "firing"]
        # per rule: the firing sources it has, by their values of the `equal` labels
        sources: list[dict[tuple[str, ...], list[Alert]]] = []
        for rule in self.inhibit_rules:
            by_key: dict[tuple[str, ...], list[Alert]] = {}
            for src in firing:
                if all(m.matches(src.labels) for m in rule.source):
                    by_key.setdefault(tuple(src.labels.get(n, "") for n in rule.equal), []).append(src)
            sources.append(by_key)
        silences = [self.silences[i] for i in active_silences]
        for alert in self.active.values():
            silenced = sorted(sil.id for sil in silences if sil.matches(alert.labels))
            inhibitors: set[str] = set()
            for rule, by_key in zip(self.inhibit_rules, sources, strict=True):
                if by_key and all(m.matches(alert.labels) for m in rule.target):
                    key = tuple(alert.labels.get(n, "") for n in rule.equal)
                    inhibitors.update(src.id for src in by_key.get(key, ()) if src.fingerprint != alert.fingerprint)
            inhibited = sorted(inhibitors)
            if silenced != alert.silenced_by or inhibited != alert.inhibited_by:
                alert.silenced_by, alert.inhibited_by = silenced, inhibited
                alert.updated_at = now
                self._changed(alert)

    def _changed(self, alert: Alert) -> None:
        self.changed[alert.id] = alert

    def take_changed(self) -> list[Alert]:
        out = list(self.changed.values())
        self.changed = {}
        return out

    def find(self, alert_id: str) -> Alert | None:
        for alert in self.active.values():
            if alert.id == alert_id:
                return alert
        return next((a for a in reversed(self.resolved) if a.id == alert_id), None)


@dataclass
class Notification:
    """One message for one group: what every receiver format is rendered from."""

    group_key: str
    group_labels: dict[str, str]
    status: str  # firing | resolved
    alerts: list[Alert]
    at: datetime


@dataclass
class _Group:
    key: str
    labels: dict[str, str]
    created_at: datetime
    next_flush: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)  # by fingerprint
    notified: dict[str, str] = field(default_factory=dict)  # fingerprint → state last notified
    last_sent: datetime | None = None


class Dispatcher:
    """Groups alerts and decides when each group is notified (Alertmanager's route timing)."""

    def __init__(
        self,
        group_by: tuple[str, ...] = ("alertname", "slo", "severity"),
        group_wait: float = 30,
        group_interval: float = 300,
        repeat_interval: float = 4 * 3600,
    ) -> None:
        self.group_by = group_by
        self.group_wait = timedelta(seconds=group_wait)
        self.group_interval = timedelta(seconds=group_interval)
        self.repeat_interval = timedelta(seconds=repeat_interval)
        self.groups: dict[str, _Group] = {}

    def tick(self, now: datetime, book: AlertBook) -> list[Notification]:
        for alert in book.active.values():
            if alert.state != "firing":
                continue
            labels = {n: alert.labels.get(n, "") for n in self.group_by}
            key = "{" + ",".join(f'{n}="{v}"' for n, v in labels.items()) + "}"
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = _Group(key, labels, now, now + self.group_wait)
            group.alerts[alert.fingerprint] = alert
        out: list[Notification] = []
        for key in list(self.groups):
            group = self.groups[key]
            # alerts that left the active set since the last tick are resolved (or dropped)
            for fp, alert in list(group.alerts.items()):
                current = book.active.get(fp)
                if current is not None and current.id == alert.id:
                    group.alerts[fp] = current
            if now < group.next_flush:
                continue
            notification = self._flush(group, now)
            if notification is not None:
                out.append(notification)
            group.next_flush = now + self.group_interval
            if not group.alerts:
                del self.groups[key]
        return out

    def _flush(self, group: _Group, now: datetime) -> Notification | None:
        visible: dict[str, Alert] = {}
        for fp, alert in group.alerts.items():
            if (alert.state == "firing" and not alert.muted) or (
                alert.state == "resolved" and group.notified.get(fp) == "firing"
            ):
                visible[fp] = alert
        for fp in [fp for fp, a in group.alerts.items() if a.state in ("resolved", "dropped")]:
            del group.alerts[fp]
        state = {fp: a.state for fp, a in visible.items()}
        firing_now = any(s == "firing" for s in state.values())
        changed = state != {fp: s for fp, s in group.notified.items() if fp in state} or any(
            fp not in state and s == "firing" and fp in group.alerts for fp, s in group.notified.items()
        )
        repeat = firing_now and group.last_sent is not None and now - group.last_sent >= self.repeat_interval
        if not visible or not (changed or repeat or group.last_sent is None):
            return None
        for fp, s in state.items():
            if s == "resolved":
                group.notified.pop(fp, None)
            else:
                group.notified[fp] = s
        group.last_sent = now
        return Notification(
            group.key,
            dict(group.labels),
            "firing" if firing_now else "resolved",
            sorted(visible.values(), key=lambda a: a.fingerprint),
            now,
        )
