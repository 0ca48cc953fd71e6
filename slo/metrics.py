"""SLIs, error budgets, burn rates and alerts in the Prometheus text exposition format.

Every series carries `tenant` and `slo`, and `channel`, `warehouse`, `carrier`, `system`, `stream`
and `flow` (empty for the whole SLO), so a team running Prometheus and Grafana can chart and alert on them too.
Which tenants' series a scrape sees is decided by `tower.api.metrics_tenants`.
"""

from __future__ import annotations

from slo.engine import SloEngine
from slo.openslo import SLICE_DIMS

SLICE_LABELS = SLICE_DIMS  # every slice its own series: a stream's or a flow's must not repeat the whole SLO's


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def exposition(engine: SloEngine, tenants: frozenset[str] | None = None) -> list[str]:
    """The SLO series of `tenants` (None: every tenant), and the engine's own counters."""
    lines = [
        "# HELP tower_slo_objective Target share of good events (or minutes) of each SLO.",
        "# TYPE tower_slo_objective gauge",
    ]
    lines += [f"tower_slo_objective{_labels({'slo': name})} {slo.objective}" for name, slo in engine.slos.items()]
    gauges = {
        "tower_slo_good_events": ("Good events in the SLO window.", lambda s: s.good),
        "tower_slo_bad_events": ("Bad events in the SLO window (a waiting journey counts once late).", lambda s: s.bad),
        "tower_slo_attainment": ("Good share in the SLO window.", lambda s: s.attainment),
        "tower_slo_error_budget_remaining": (
            "Share of the error budget left (negative: overspent).",
            lambda s: s.budget_remaining,
        ),
    }
    with engine._lock:
        shown = {t: state for t, state in engine.tenants.items() if tenants is None or t in tenants}
        summaries_of = {t: dict(state.summaries) for t, state in shown.items()}
        alert_counts: dict[tuple[str, str, str], int] = {}
        for tenant, state in shown.items():
            for a in state.book.active.values():
                key = (tenant, a.state, a.severity)
                alert_counts[key] = alert_counts.get(key, 0) + 1
    for metric, (help_text, value_of) in gauges.items():
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge"]
        for tenant, summaries in summaries_of.items():
            for name, rows in summaries.items():
                for s in rows:
                    value = value_of(s)
                    if value is None:
                        continue
                    labels = {"tenant": tenant, "slo": name, **{d: s.labels.get(d, "") for d in SLICE_LABELS}}
                    lines.append(f"{metric}{_labels(labels)} {value}")
    lines += [
        "# HELP tower_slo_burn_rate Budget burn rate over a window (1 spends the budget exactly over the SLO window).",
        "# TYPE tower_slo_burn_rate gauge",
    ]
    for tenant, summaries in summaries_of.items():
        for name, rows in summaries.items():
            for s in rows:
                for window, rate in s.burn_rates.items():
                    labels = {
                        "tenant": tenant,
                        "slo": name,
                        **{d: s.labels.get(d, "") for d in SLICE_LABELS},
                        "window": window,
                    }
                    lines.append(f"tower_slo_burn_rate{_labels(labels)} {rate}")
    lines += ["# HELP tower_alerts Active alerts by state and severity.", "# TYPE tower_alerts gauge"]
    for (tenant, alert_state, severity), n in sorted(alert_counts.items()):
        lines.append(f"tower_alerts{_labels({'tenant': tenant, 'state': alert_state, 'severity': severity})} {n}")
    st = engine.stats
    lines += [
        "# HELP tower_slo_evaluations_total Evaluation batches (one per tenant and clock move).",
        "# TYPE tower_slo_evaluations_total counter",
        f"tower_slo_evaluations_total {st.evaluations}",
        "# HELP tower_slo_evaluation_seconds_total Time spent evaluating SLOs and alerts.",
        "# TYPE tower_slo_evaluation_seconds_total counter",
        f"tower_slo_evaluation_seconds_total {st.seconds:.6f}",
        "# HELP tower_alert_notifications_total Notifications handed to receivers, delivered and failed for good.",
        "# TYPE tower_alert_notifications_total counter",
        f'tower_alert_notifications_total{{outcome="queued"}} {st.notifications}',
        f'tower_alert_notifications_total{{outcome="sent"}} {engine.notifier.sent}',
        f'tower_alert_notifications_total{{outcome="failed"}} {engine.notifier.failed}',
        f'tower_alert_notifications_total{{outcome="dropped"}} {engine.notifier.dropped}',
    ]
    return lines
