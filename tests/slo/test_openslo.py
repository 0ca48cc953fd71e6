"""OpenSLO v1 loading: the shipped defaults load; every OpenSLO, Sloth and Pyrra file in the shared
fixtures either loads or is refused with a precise reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from slo.openslo import load_definitions, load_paths, load_text
from tests.support.ocel import FIXTURES

OPENSLO = FIXTURES / "openslo"
PROMETHEUS = "Prometheus sources are not evaluated by Control Tower"
ANY_SOURCE = "a source of type 'Any' is not evaluated by Control Tower (only type: ControlTower)"

# file → (objects accepted, [(kind, name, part of the reason)] refused)
EXPECTED: dict[str, tuple[set[tuple[str, str]], list[tuple[str, str, str]]]] = {
    "openslo-spec/budgeting-method__occurences-slo.yaml": (set(), [("SLO", "search-slo", ANY_SOURCE)]),
    "openslo-spec/budgeting-method__ratio-timeslices.yaml": (set(), [("SLO", "main-page", ANY_SOURCE)]),
    "openslo-spec/budgeting-method__timeslices-slo.yaml": (
        set(),
        [("SLO", "service-availability", "one objective per SLO")],
    ),
    "openslo-spec/treat-low-traffic-as-equally-important__timeslices-slo.yaml": (
        set(),
        [("SLO", "service-availability", ANY_SOURCE)],
    ),
    "oslo/v1.yaml": (
        {("Service", "example-service")},
        [
            ("Service", "example service", "metadata.name must be lowercase"),
            ("SLO", "web-availability", "a source of type 'Prometheus' is not evaluated"),
        ],
    ),
    "openslo-go-sdk/v1_alert_conditions.yaml": (
        {("AlertCondition", "latency-too-high")},
        [("AlertCondition", "cpu-usage-breach", "op: 'lte'; a burn-rate alert fires when the rate is above")],
    ),
    "openslo-go-sdk/v1_alert_notification_targets.yaml": (
        {
            ("AlertNotificationTarget", "devs-email-notification"),
            ("AlertNotificationTarget", "pd-on-call-notification"),
        },
        [],
    ),
    "openslo-go-sdk/v1_alert_policies.yaml": (
        set(),
        [
            ("AlertPolicy", "low-priority", "refers to AlertCondition 'cpu-usage-breach'"),
            ("AlertPolicy", "high-priority", "refers to AlertNotificationTarget 'on-call-pd-notification'"),
            ("AlertPolicy", "medium-priority", "refers to AlertCondition 'cpu-usage-breach'"),
        ],
    ),
    "openslo-go-sdk/v1_data_sources.yaml": ({("DataSource", "prometheus"), ("DataSource", "datadog")}, []),
    "openslo-go-sdk/v1_services.yaml": (
        {("Service", "example-service")},
        [("Service", "example-service", "a second Service named 'example-service'")],
    ),
    "openslo-go-sdk/v1_slis.yaml": (
        set(),
        [
            ("SLI", "search-availability", "a source of type 'Datadog' is not evaluated"),
            ("SLI", "end-user-response", "a source of type 'AppDynamics' is not evaluated"),
            ("SLI", "wifi-client-satisfaction", "a source of type 'Prometheus' is not evaluated"),
            ("SLI", "annotator-throughput", "a source of type 'Prometheus' is not evaluated"),
        ],
    ),
    "openslo-go-sdk/v1_slo_with_inline_refs.yaml": (
        {("AlertNotificationTarget", "devs-email-notification")},
        [
            ("SLO", "my-slo-1", "a source of type 'Prometheus' is not evaluated"),
            ("SLO", "my-slo-2", "SLI my-sli.thresholdMetric.metricSource: a source of type 'Prometheus'"),
            ("SLI", "my-sli", "a source of type 'Prometheus' is not evaluated"),
            ("AlertCondition", "cpu-usage-breach", "op: 'lte'"),
        ],
    ),
    "openslo-go-sdk/v1_slos.yaml": (set(), [("SLO", "web-availability", "a source of type 'Prometheus'")]),
    "sloth/getting-started.yml": (set(), [("Sloth spec", "myservice", PROMETHEUS)]),
    "sloth/home-wifi.yml": (set(), [("Sloth spec", "home-wifi", PROMETHEUS)]),
    "sloth/kubernetes-apiserver.yml": (set(), [("Sloth spec", "k8s-apiserver", PROMETHEUS)]),
    "sloth/multifile.yml": (set(), [("Sloth spec", "myservice", PROMETHEUS), ("Sloth spec", "myservice2", PROMETHEUS)]),
    "sloth/no-alerts.yml": (set(), [("Sloth spec", "myapp", PROMETHEUS)]),
    "sloth/k8s-getting-started.yml": (set(), [("PrometheusServiceLevel", "sloth-slo-my-service", PROMETHEUS)]),
    "pyrra/caddy-response-latency.yaml": (set(), [("ServiceLevelObjective", "caddy-response-latency", PROMETHEUS)]),
    "pyrra/nginx.yaml": (
        set(),
        [
            ("ServiceLevelObjective", "nginx-api-errors", PROMETHEUS),
            ("ServiceLevelObjective", "nginx-api-latency", PROMETHEUS),
        ],
    ),
    "pyrra/prometheus-http.yaml": (set(), [("ServiceLevelObjective", "prometheus-api-query", PROMETHEUS)]),
    "pyrra/prometheus-probe-success.yaml": (
        set(),
        [("ServiceLevelObjective", "prometheus-blackbox-probe-success", PROMETHEUS)],
    ),
    "pyrra/slo-apiserver-read-response-errors.yaml": (
        set(),
        [("ServiceLevelObjective", "apiserver-read-response-errors", PROMETHEUS)],
    ),
    "pyrra/thanos-grpc.yaml": (set(), [("ServiceLevelObjective", "thanos-store", PROMETHEUS)]),
}


def fixture_files() -> list[str]:
    return sorted(str(p.relative_to(OPENSLO)) for p in OPENSLO.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_every_fixture_file_has_an_expected_outcome() -> None:
    assert fixture_files() == sorted(EXPECTED), "a fixture file was added or removed: say what it should give"


@pytest.mark.parametrize("name", fixture_files())
def test_fixture_loads_or_is_refused_with_a_reason(name: str) -> None:
    result = load_paths([OPENSLO / name])
    objects, refusals = EXPECTED[name]
    assert set(result.objects) == objects
    got = [(r.kind, r.name, r.reason) for r in result.refused]
    assert len(got) == len(refusals), got
    for (kind, obj, reason), (want_kind, want_name, want_reason) in zip(got, refusals, strict=True):
        assert (kind, obj) == (want_kind, want_name)
        assert want_reason in reason, reason
    assert result.slos == []  # nothing there is evaluable by Control Tower


def test_shipped_defaults_load_with_the_sre_workbook_windows() -> None:
    result = load_definitions()
    assert result.refused == []
    assert {s.name for s in result.slos} == {
        "order-acceptance",
        "allocation",
        "shipment-creation",
        "tracking-propagation",
        "inventory-freshness",
        "integration-errors",
    }
    acceptance = next(s for s in result.slos if s.name == "order-acceptance")
    assert acceptance.sli.threshold_s == 300 and acceptance.window_s == 30 * 86400
    assert acceptance.sli.slice_by == ("channel", "warehouse", "carrier")
    assert [(c.severity, c.threshold, c.long_s, c.short_s) for c in acceptance.conditions] == [
        ("page", 14.4, 3600, 300),
        ("page", 6.0, 21600, 1800),
        ("ticket", 1.0, 259200, 21600),
    ]
    freshness = next(s for s in result.slos if s.name == "inventory-freshness")
    assert freshness.sli.kind == "freshness" and freshness.sli.threshold_s == 900
    errors = next(s for s in result.slos if s.name == "integration-errors")
    assert errors.sli.slice_by == ("system", "carrier", "flow")


def test_a_control_tower_slo_with_timeslices_and_an_inline_policy_loads(tmp_path: Path) -> None:
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: edi-freshness}
spec:
  service: edi
  indicator:
    metadata: {name: x}
    spec:
      thresholdMetric:
        metricSource:
          type: ControlTower
          spec: {freshness: {event: inventory.snapshot, streamBy: [warehouse]}, threshold: 30m, sliceBy: [warehouse]}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives: [{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}]
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: p}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: c, annotations: {controltower.dev/short-window: 10m}}
            spec: {severity: page, condition: {kind: burnrate, op: gt, threshold: 10, lookbackWindow: 2h}}
        notificationTargets:
          - kind: AlertNotificationTarget
            metadata: {name: hook, annotations: {controltower.dev/url: "http://example.invalid/hook"}}
            spec: {target: slack}
"""
    result = load_text(text)
    assert result.refused == []
    (slo,) = result.slos
    assert slo.budgeting == "timeslices" and slo.time_slice_target == 0.95 and slo.window_s == 7 * 86400
    (cond,) = slo.conditions
    assert (cond.long_s, cond.short_s, cond.alert_after_s) == (7200, 600, 0)
    assert slo.policies[0].targets[0].url == "http://example.invalid/hook"


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ("threshold: 5m", "threshold: None is not a duration"),
        ("sliceBy: [channel]", "sliceBy: expected a list of"),
        ("sliceBy: [flow]", "sliceBy: only a successRatio SLI has flows to slice by"),
        ("isRolling: true", "calendar-aligned windows are not evaluated"),
        ("target: 0.995", "must be a ratio between 0 and 1"),
    ],
)
def test_bad_control_tower_slos_are_refused_naming_the_field(patch: str, reason: str) -> None:
    text = (Path(__file__).resolve().parents[2] / "slo" / "defaults" / "order-acceptance.yaml").read_text()
    broken = {
        "threshold: 5m": text.replace("            threshold: 5m\n", ""),
        "sliceBy: [channel]": text.replace("sliceBy: [channel, warehouse, carrier]", "sliceBy: [colour]"),
        "sliceBy: [flow]": text.replace("sliceBy: [channel, warehouse, carrier]", "sliceBy: [channel, flow]"),
        "isRolling: true": text.replace("isRolling: true", "isRolling: false"),
        "target: 0.995": text.replace("target: 0.995", "target: 99.5"),
    }[patch]
    policies = (Path(__file__).resolve().parents[2] / "slo" / "defaults" / "alert-policies.yaml").read_text()
    result = load_text(broken + "\n---\n" + policies)
    assert [r.name for r in result.refused] == ["order-acceptance"]
    assert reason in result.refused[0].reason
