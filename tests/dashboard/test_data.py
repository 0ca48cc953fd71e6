"""The shaping functions on documents in the agreed response shapes (../notes: api-shapes), where no
server is needed to know the answer."""

from __future__ import annotations

from typing import Any

from dashboard import data


def test_cycle_time_buckets_are_read_as_cumulative() -> None:
    report = {
        "cycle_time_hours": {"buckets": [{"le": 24, "count": 2}, {"le": 48, "count": 7}, {"le": None, "count": 9}]}
    }
    bars = data.cycle_time_figure(report).data[0]
    assert list(bars.x) == ["0–24 h", "24–48 h", "> 48 h"]
    assert list(bars.y) == [2, 5, 2]


def test_kpi_tiles_compare_against_targets_in_the_kpis_direction() -> None:
    report: dict[str, Any] = {
        "kpis": [
            {
                "name": "on_time_shipment",
                "label": "On-time shipment",
                "value": 0.95,
                "unit": "ratio",
                "direction": "higher",
                "target": 0.99,
                "target_source": "WERC",
                "numerator": 95,
                "denominator": 100,
                "series": [{"t": "2026-11-20T00:00:00Z", "value": 0.9}, {"t": "2026-11-21T00:00:00Z", "value": None}],
            },
            {
                "name": "order_cycle_time_p50",
                "label": "Cycle time p50",
                "value": 30.0,
                "unit": "hours",
                "direction": "lower",
                "target": 48.0,
                "series": [],
            },
            {
                "name": "orders",
                "label": "Orders",
                "value": 1234,
                "unit": "count",
                "direction": "higher",
                "target": None,
                "series": [],
            },
        ]
    }
    shipment, cycle, orders = data.kpi_tiles(report)
    assert (shipment.value, shipment.met, shipment.delta) == ("95.0%", False, "-4.0 pts vs target")
    assert shipment.series == [0.9] and "95 of 100" in shipment.help and "WERC" in shipment.help
    assert (cycle.value, cycle.met, cycle.delta_color) == ("30.0 h", True, "inverse")
    assert (orders.value, orders.met, orders.delta, orders.target) == ("1,234", None, None, None)


def test_an_overspent_budget_is_drawn_at_minus_100_percent_in_red() -> None:
    slos = [
        {"name": "a", "budget_remaining": -99.0, "status": "page"},
        {"name": "b", "budget_remaining": 0.4, "status": "ok"},
    ]
    bars = data.budget_figure(slos).data[0]
    assert list(bars.x) == [-1.0, 0.4]
    assert list(bars.text) == ["-9900%", "40%"]
    assert list(bars.marker.color) == [data.LATE, data.ON_TIME]


def test_the_slo_with_least_budget_left_comes_first() -> None:
    slos = [
        {"name": "a", "budget_remaining": None},
        {"name": "b", "budget_remaining": 0.5},
        {"name": "c", "budget_remaining": -2.0},
    ]
    assert [s["name"] for s in data.least_budget_first(slos)] == ["c", "b", "a"]


def test_slo_rows_carry_the_worst_slices_burn_rate() -> None:
    slo = {
        "name": "order-acceptance",
        "objective": 0.995,
        "attainment": 0.99,
        "budget_remaining": -1.0,
        "status": "page",
        "window": "30d",
        "slices": [
            {"labels": {}, "burn_rates": {"1h": 2.0, "6h": 1.0}},
            {"labels": {"channel": "edi"}, "burn_rates": {"1h": 14.4, "6h": 0.5}},
        ],
    }
    row = data.slo_frame([slo]).iloc[0]
    assert (row["burn 1h"], row["burn 6h"]) == (14.4, 1.0)
    assert list(data.slice_frame(slo)["slice"]) == ["all", "channel=edi"]
