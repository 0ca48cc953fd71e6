"""OpenSLO v1 definitions: load, validate, and turn into what the engine evaluates.

Kinds read: `SLO`, `SLI`, `AlertPolicy`, `AlertCondition`, `AlertNotificationTarget` (and `Service`,
`DataSource`, kept as context). Objects may be inline or referenced by name (`indicatorRef`,
`conditionRef`, `targetRef`) across the files of one load.

Control Tower evaluates one metric source, `type: ControlTower`, with three SLI kinds in its `spec`:

```yaml
thresholdMetric:
  metricSource:
    type: ControlTower
    spec:
      segment: {from: order.received, to: [order.accepted, order.rejected]}   # latency of a journey segment
      threshold: 5m                # a journey is good when `to` came within 5 min of `from`
      afterFrom: false             # true: only a `to` at or after `from` ends the wait
      stopOn: [order.cancelled]    # a journey stopped before its deadline counts neither way
      sliceBy: [channel, warehouse, carrier]
# or
      freshness: {event: inventory.snapshot, streamBy: [system, warehouse]}
      threshold: 15m               # every stream-minute is good when its newest `as_of` is that recent
      sliceBy: [warehouse, system]
# or
      successRatio: {good: [sync.acknowledged], bad: [sync.failed, sync.dead_lettered]}
      sliceBy: [system, carrier, flow]  # system: facts.system, else dims.system, else the source's prefix;
                                         # flow: system:facts.operation, for flows reporting their successes
```

A `burnrate` AlertCondition's `lookbackWindow` is the long window; the short window is a twelfth
of it (the SRE workbook's 1h/5m, 6h/30m, 3d/6h) unless the condition has the annotation
`controltower.dev/short-window`. An `AlertNotificationTarget` whose `target` is `webhook`,
`slack` or `alertmanager` is delivered when it has the annotation `controltower.dev/url`.

Files in other SLO languages (Sloth, Pyrra) and OpenSLO objects with other metric sources are
refused with the reason, never silently half-loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "openslo/v1"
KINDS = ("SLO", "SLI", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "Service", "DataSource")
SOURCE_TYPE = "ControlTower"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DURATION = re.compile(r"^(\d+)([smhdwMQY])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}
# stream: one freshness stream (system@warehouse); flow: one integration flow (system:operation)
SLICE_DIMS = ("channel", "warehouse", "carrier", "system", "stream", "flow")
SHORT_WINDOW_ANNOTATION = "controltower.dev/short-window"
URL_ANNOTATION = "controltower.dev/url"
DEFAULTS_DIR = Path(__file__).parent / "defaults"


class OpenSLOError(ValueError):
    """A document that cannot be loaded; the message names the object, the field and why."""


@dataclass(frozen=True, slots=True)
class SliSpec:
    kind: str  # latency | freshness | success_ratio
    threshold_s: int = 0
    from_types: tuple[str, ...] = ()
    to_types: tuple[str, ...] = ()
    stop_types: tuple[str, ...] = ()
    after_from: bool = False
    event: str = ""
    stream_by: tuple[str, ...] = ()
    good_types: tuple[str, ...] = ()
    bad_types: tuple[str, ...] = ()
    good_delivered: bool = False  # success ratio: a system's own business events count as its good steps
    slice_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BurnRateCondition:
    name: str
    severity: str
    threshold: float  # burn rate
    long_s: int
    short_s: int
    alert_after_s: int
    description: str = ""


@dataclass(frozen=True, slots=True)
class NotificationTarget:
    name: str
    target: str  # webhook | slack | alertmanager | other (kept, not delivered)
    url: str | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    name: str
    conditions: tuple[BurnRateCondition, ...]
    targets: tuple[NotificationTarget, ...]


@dataclass(frozen=True, slots=True)
class SloDef:
    name: str
    display_name: str
    description: str
    service: str
    sli: SliSpec
    window_s: int
    budgeting: str  # occurrences | timeslices
    objective: float
    time_slice_target: float | None
    policies: tuple[AlertPolicy, ...]
    origin: str = ""

    @property
    def conditions(self) -> tuple[BurnRateCondition, ...]:
        return tuple(c for p in self.policies for c in p.conditions)


@dataclass(frozen=True, slots=True)
class Refusal:
    origin: str
    kind: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.kind} {self.name!r}: {self.reason}"


@dataclass
class LoadResult:
    slos: list[SloDef] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) of every object accepted
    refused: list[Refusal] = field(default_factory=list)


def parse_duration(value: Any, where: str) -> int:
    """An OpenSLO duration (`5m`, `1h`, `28d`, `1w`) in seconds."""
    match = DURATION.match(str(value).strip()) if value is not None else None
    if not match:
        raise OpenSLOError(f"{where}: {value!r} is not a duration like 30s, 5m, 1h, 28d or 1w")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def _types(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) and "." in x for x in items):
        raise OpenSLOError(f"{where}: expected an event type or a list of them (domain.action), got {value!r}")
    return tuple(items)


def _slice_by(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or any(v not in SLICE_DIMS for v in value):
        raise OpenSLOError(f"{where}.sliceBy: expected a list of {', '.join(SLICE_DIMS)}, got {value!r}")
    return tuple(value)


def _control_tower_sli(spec: Any, where: str, objective_value: Any) -> SliSpec:
    if not isinstance(spec, dict):
        raise OpenSLOError(f"{where}.spec: a ControlTower source needs a mapping (segment, freshness or successRatio)")
    kinds = [k for k in ("segment", "freshness", "successRatio") if k in spec]
    if len(kinds) != 1:
        raise OpenSLOError(
            f"{where}.spec: name exactly one of segment, freshness, successRatio (got {kinds or 'none'})"
        )
    slice_by = _slice_by(spec.get("sliceBy"), where + ".spec")
    if "stream" in slice_by and kinds[0] != "freshness":
        raise OpenSLOError(f"{where}.spec.sliceBy: only a freshness SLI has streams to slice by")
    if "flow" in slice_by and kinds[0] != "successRatio":
        raise OpenSLOError(f"{where}.spec.sliceBy: only a successRatio SLI has flows to slice by")
    if kinds[0] == "segment":
        seg = spec["segment"]
        if not isinstance(seg, dict) or "from" not in seg or "to" not in seg:
            raise OpenSLOError(f"{where}.spec.segment: needs from and to milestones")
        threshold = spec.get("threshold")
        if threshold is None and objective_value is not None:
            threshold = f"{int(float(objective_value))}s"
        return SliSpec(
            "latency",
            threshold_s=parse_duration(threshold, f"{where}.spec.threshold"),
            from_types=_types(seg["from"], f"{where}.spec.segment.from"),
            to_types=_types(seg["to"], f"{where}.spec.segment.to"),
            stop_types=_types(spec["stopOn"], f"{where}.spec.stopOn") if spec.get("stopOn") else ("order.cancelled",),
            after_from=bool(spec.get("afterFrom", False)),
            slice_by=slice_by,
        )
    if kinds[0] == "freshness":
        fresh = spec["freshness"]
        if not isinstance(fresh, dict) or not isinstance(fresh.get("event"), str):
            raise OpenSLOError(f"{where}.spec.freshness: needs event (e.g. inventory.snapshot)")
        stream_by = fresh.get("streamBy", ["system", "warehouse"])
        if not isinstance(stream_by, list) or any(d not in ("system", "warehouse") for d in stream_by):
            raise OpenSLOError(f"{where}.spec.freshness.streamBy: a list of system, warehouse; got {stream_by!r}")
        if any(d not in stream_by and d != "stream" for d in slice_by):
            raise OpenSLOError(
                f"{where}.spec.sliceBy: a freshness SLI can only be sliced by its streamBy {stream_by} "
                "or by stream (each stream on its own)"
            )
        return SliSpec(
            "freshness",
            threshold_s=parse_duration(spec.get("threshold"), f"{where}.spec.threshold"),
            event=fresh["event"],
            stream_by=tuple(stream_by),
            slice_by=slice_by,
        )
    ratio = spec["successRatio"]
    if not isinstance(ratio, dict) or "bad" not in ratio:
        raise OpenSLOError(f"{where}.spec.successRatio: needs bad (and good) event types")
    return SliSpec(
        "success_ratio",
        good_types=_types(ratio.get("good", ["sync.acknowledged"]), f"{where}.spec.successRatio.good"),
        bad_types=_types(ratio["bad"], f"{where}.spec.successRatio.bad"),
        good_delivered=_flag(ratio.get("goodDelivered", False), f"{where}.spec.successRatio.goodDelivered"),
        slice_by=slice_by,
    )


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise OpenSLOError(f"{where}: expected true or false, got {value!r}")
    return value


def _metric_sources(indicator_spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path, metricSource) of every source an SLI spec names."""
    found: list[tuple[str, Any]] = []
    if "thresholdMetric" in indicator_spec:
        found.append(("thresholdMetric", (indicator_spec["thresholdMetric"] or {}).get("metricSource")))
    ratio = indicator_spec.get("ratioMetric")
    if isinstance(ratio, dict):
        for part in ("good", "bad", "total", "raw"):
            if part in ratio:
                found.append((f"ratioMetric.{part}", (ratio[part] or {}).get("metricSource")))
    return found


class Loader:
    """Collects documents from one or more files, then resolves references and builds SLOs."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.result = LoadResult()

    def add_text(self, text: str, origin: str) -> None:
        try:
            raw_docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            self.result.refused.append(Refusal(origin, "file", origin, f"not valid YAML: {exc}"))
            return
        docs: list[Any] = []
        for d in raw_docs:
            docs.extend(d if isinstance(d, list) else [d])
        for index, doc in enumerate(docs):
            self._add(doc, f"{origin}[{index}]")

    def add_file(self, path: Path) -> None:
        self.add_text(path.read_text(), str(path))

    def _add(self, doc: Any, origin: str) -> None:
        if not isinstance(doc, dict):
            self.result.refused.append(Refusal(origin, "document", "?", "not a mapping"))
            return
        version = doc.get("apiVersion") or doc.get("version")
        name = str((doc.get("metadata") or {}).get("name") or doc.get("service") or "?")
        if (isinstance(version, str) and version.startswith("sloth.slok.dev")) or version == "prometheus/v1":
            self.result.refused.append(
                Refusal(
                    origin,
                    str(doc.get("kind") or "Sloth spec"),
                    name,
                    f"a Sloth spec ({version}) whose SLIs are Prometheus queries: Prometheus sources are not "
                    "evaluated by Control Tower; write the SLO as OpenSLO v1 with metricSource type ControlTower",
                )
            )
            return
        if isinstance(version, str) and version.startswith("pyrra.dev"):
            self.result.refused.append(
                Refusal(
                    origin,
                    str(doc.get("kind")),
                    name,
                    f"a Pyrra {doc.get('kind')} ({version}) whose indicator is a Prometheus metric: Prometheus sources "
                    "are not evaluated by Control Tower; write it as OpenSLO v1 with metricSource type ControlTower",
                )
            )
            return
        kind = doc.get("kind")
        if version != API_VERSION:
            self.result.refused.append(Refusal(origin, str(kind), name, f"apiVersion {version!r} is not {API_VERSION}"))
            return
        if kind not in KINDS:
            self.result.refused.append(Refusal(origin, str(kind), name, f"kind must be one of {', '.join(KINDS)}"))
            return
        if not NAME.match(name):
            self.result.refused.append(
                Refusal(origin, kind, name, "metadata.name must be lowercase letters, digits, '-' or '.' (RFC 1123)")
            )
            return
        if (kind, name) in self.docs:
            self.result.refused.append(
                Refusal(origin, kind, name, f"a second {kind} named {name!r} (first in {self.docs[(kind, name)][0]})")
            )
            return
        self.docs[(kind, name)] = (origin, doc)

    # --- resolution ------------------------------------------------------------------------------

    def finish(self) -> LoadResult:
        for (kind, name), (origin, doc) in self.docs.items():
            try:
                spec = doc.get("spec")
                if not isinstance(spec, dict):
                    raise OpenSLOError("spec: missing or not a mapping")
                if kind == "SLO":
                    self.result.slos.append(self._slo(name, doc, origin))
                elif kind == "SLI":
                    self._indicator(spec, f"SLI {name}", None)
                elif kind == "AlertCondition":
                    self._condition(doc)
                elif kind == "AlertPolicy":
                    self._policy(doc)
                elif kind == "AlertNotificationTarget":
                    self._target(doc)
                self.result.objects.append((kind, name))
            except OpenSLOError as exc:
                self.result.refused.append(Refusal(origin, kind, name, str(exc)))
        return self.result

    def _ref(self, kind: str, name: Any, where: str) -> dict[str, Any]:
        found = self.docs.get((kind, str(name)))
        if found is None:
            raise OpenSLOError(f"{where}: refers to {kind} {name!r}, which none of the loaded files define")
        return found[1]

    def _indicator(self, spec: dict[str, Any], where: str, objective_value: Any) -> SliSpec:
        sources = _metric_sources(spec)
        if not sources:
            raise OpenSLOError(f"{where}: needs thresholdMetric or ratioMetric")
        for path, source in sources:
            if not isinstance(source, dict) or "type" not in source:
                raise OpenSLOError(f"{where}.{path}.metricSource: missing, or without a type")
            if source["type"] != SOURCE_TYPE:
                raise OpenSLOError(
                    f"{where}.{path}.metricSource: a source of type {source['type']!r} is not evaluated by "
                    f"Control Tower (only type: {SOURCE_TYPE})"
                )
        if len(sources) != 1 or sources[0][0] != "thresholdMetric":
            raise OpenSLOError(
                f"{where}: a ControlTower source is one thresholdMetric (its kind says what is good and bad); "
                "ratioMetric is not used"
            )
        return _control_tower_sli(sources[0][1].get("spec"), f"{where}.thresholdMetric.metricSource", objective_value)

    def _slo(self, name: str, doc: dict[str, Any], origin: str) -> SloDef:
        spec = doc["spec"]
        meta = doc.get("metadata") or {}
        objectives = spec.get("objectives")
        if not isinstance(objectives, list) or not objectives:
            raise OpenSLOError("spec.objectives: at least one objective is needed")
        if len(objectives) > 1:
            raise OpenSLOError("spec.objectives: Control Tower evaluates one objective per SLO; split it into SLOs")
        objective = objectives[0]
        target = objective.get("target")
        if not isinstance(target, int | float) or not 0 < target < 1:
            raise OpenSLOError(f"spec.objectives[0].target: {target!r} must be a ratio between 0 and 1")
        if "indicator" in spec:
            indicator = spec["indicator"] or {}
            sli = self._indicator(indicator.get("spec") or {}, "spec.indicator.spec", objective.get("value"))
        elif "indicatorRef" in spec:
            ref = self._ref("SLI", spec["indicatorRef"], "spec.indicatorRef")
            sli = self._indicator(ref["spec"], f"SLI {spec['indicatorRef']}", objective.get("value"))
        else:
            raise OpenSLOError("spec: needs indicator or indicatorRef")
        windows = spec.get("timeWindow")
        if not isinstance(windows, list) or len(windows) != 1:
            raise OpenSLOError("spec.timeWindow: exactly one window is needed")
        window = windows[0]
        if not window.get("isRolling", False):
            raise OpenSLOError("spec.timeWindow[0]: calendar-aligned windows are not evaluated; use isRolling: true")
        method = str(spec.get("budgetingMethod", ""))
        budgeting = {"Occurrences": "occurrences", "Timeslices": "timeslices"}.get(method)
        if budgeting is None:
            raise OpenSLOError(f"spec.budgetingMethod: {method!r}; Control Tower evaluates Occurrences or Timeslices")
        slice_target = objective.get("timeSliceTarget")
        if budgeting == "timeslices":
            if not isinstance(slice_target, int | float) or not 0 < slice_target <= 1:
                raise OpenSLOError("spec.objectives[0].timeSliceTarget: a ratio is needed for Timeslices")
            if parse_duration(objective.get("timeSliceWindow", "1m"), "timeSliceWindow") != 60:
                raise OpenSLOError("spec.objectives[0].timeSliceWindow: Control Tower evaluates 1m time slices")
        policies = []
        for i, item in enumerate(spec.get("alertPolicies") or []):
            where = f"spec.alertPolicies[{i}]"
            if isinstance(item, dict) and "alertPolicyRef" in item:
                policies.append(self._policy(self._ref("AlertPolicy", item["alertPolicyRef"], where)))
            elif isinstance(item, dict) and item.get("kind") == "AlertPolicy":
                policies.append(self._policy(item))
            else:
                raise OpenSLOError(f"{where}: an inline AlertPolicy or an alertPolicyRef")
        return SloDef(
            name=name,
            display_name=str(meta.get("displayName") or name),
            description=str(spec.get("description") or ""),
            service=str(spec.get("service") or ""),
            sli=sli,
            window_s=parse_duration(window.get("duration"), "spec.timeWindow[0].duration"),
            budgeting=budgeting,
            objective=float(target),
            time_slice_target=float(slice_target) if budgeting == "timeslices" else None,
            policies=tuple(policies),
            origin=origin,
        )

    def _policy(self, doc: dict[str, Any]) -> AlertPolicy:
        spec = doc.get("spec") or {}
        name = str((doc.get("metadata") or {}).get("name") or "?")
        conditions = []
        for i, item in enumerate(spec.get("conditions") or []):
            if isinstance(item, dict) and "conditionRef" in item:
                conditions.append(
                    self._condition(self._ref("AlertCondition", item["conditionRef"], f"conditions[{i}]"))
                )
            elif isinstance(item, dict) and item.get("kind") == "AlertCondition":
                conditions.append(self._condition(item))
            else:
                raise OpenSLOError(f"AlertPolicy {name}.conditions[{i}]: an inline AlertCondition or a conditionRef")
        if not conditions:
            raise OpenSLOError(f"AlertPolicy {name}.conditions: at least one condition is needed")
        targets = []
        for i, item in enumerate(spec.get("notificationTargets") or []):
            if isinstance(item, dict) and "targetRef" in item:
                targets.append(
                    self._target(self._ref("AlertNotificationTarget", item["targetRef"], f"notificationTargets[{i}]"))
                )
            elif isinstance(item, dict) and item.get("kind") == "AlertNotificationTarget":
                targets.append(self._target(item))
            else:
                raise OpenSLOError(f"AlertPolicy {name}.notificationTargets[{i}]: inline or a targetRef")
        return AlertPolicy(name, tuple(conditions), tuple(targets))

    def _condition(self, doc: dict[str, Any]) -> BurnRateCondition:
        meta = doc.get("metadata") or {}
        name = str(meta.get("name") or "?")
        spec = doc.get("spec") or {}
        cond = spec.get("condition") or {}
        where = f"AlertCondition {name}.spec.condition"
        if cond.get("kind") != "burnrate":
            raise OpenSLOError(f"{where}.kind: {cond.get('kind')!r}; only burnrate is defined by OpenSLO v1")
        if cond.get("op") not in ("gt", "gte"):
            raise OpenSLOError(
                f"{where}.op: {cond.get('op')!r}; a burn-rate alert fires when the rate is above its threshold "
                "(gt or gte)"
            )
        threshold = cond.get("threshold")
        if not isinstance(threshold, int | float) or threshold <= 0:
            raise OpenSLOError(f"{where}.threshold: {threshold!r} must be a positive burn rate")
        long_s = parse_duration(cond.get("lookbackWindow"), f"{where}.lookbackWindow")
        annotations = meta.get("annotations") or {}
        short = annotations.get(SHORT_WINDOW_ANNOTATION)
        short_s = parse_duration(short, f"{where} annotation {SHORT_WINDOW_ANNOTATION}") if short else long_s // 12
        if short_s < 60 or short_s % 60 or long_s % 60:
            raise OpenSLOError(f"{where}: windows must be whole minutes, the short one at least 1m")
        severity = str(spec.get("severity") or "")
        if not severity:
            raise OpenSLOError(f"AlertCondition {name}.spec.severity: needed (page, ticket, …)")
        return BurnRateCondition(
            name=name,
            severity=severity,
            threshold=float(threshold),
            long_s=long_s,
            short_s=short_s,
            alert_after_s=parse_duration(cond.get("alertAfter", "0s"), f"{where}.alertAfter"),
            description=str(spec.get("description") or ""),
        )

    def _target(self, doc: dict[str, Any]) -> NotificationTarget:
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        target = spec.get("target")
        if not isinstance(target, str) or not target:
            raise OpenSLOError(f"AlertNotificationTarget {meta.get('name')}.spec.target: needed")
        url = (meta.get("annotations") or {}).get(URL_ANNOTATION)
        return NotificationTarget(str(meta.get("name")), target, url, str(spec.get("description") or ""))


def load_paths(paths: list[Path]) -> LoadResult:
    """Load every file (a folder: its *.yaml and *.yml) as one set of documents."""
    loader = Loader()
    for path in paths:
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        for f in files:
            loader.add_file(f)
    return loader.finish()


def load_text(text: str, origin: str = "<text>") -> LoadResult:
    loader = Loader()
    loader.add_text(text, origin)
    return loader.finish()


def load_definitions(extra_dir: Path | None = None) -> LoadResult:
    """The shipped defaults plus the files of `TOWER_SLO_DIR`; an SLO there replaces a default of its name."""
    result = load_paths([DEFAULTS_DIR])
    if extra_dir is not None:
        extra = load_paths([extra_dir])
        names = {s.name for s in extra.slos}
        result.slos = [s for s in result.slos if s.name not in names] + extra.slos
        result.objects += extra.objects
        result.refused += extra.refused
    return result
