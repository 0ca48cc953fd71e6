"""SLO evaluation and KPI queries over a store of N synthetic events, against a plain count().

    python -m bench.slo [--events 1000000] [--data-dir DIR] [--repeat 5]

Loads N events over HTTP into a fresh store (or reuses one loaded by `python -m bench.ingest
--data-dir DIR`), stops the server, then opens the store in this process and times, `--repeat`
times each, interleaved:

- baseline: `SELECT count()` over `events` and over `journey_events` (the tables the SLIs read),
  and a scan of `journey_events`' type and time columns (what every SLI query reads at least);
- each default SLO's minute query over its whole window (30 days + the 3-day alert window), every
  slice (what the engine's first and daily full evaluation reads);
- `SloEngine.evaluate_until`: the first evaluation of every SLO, slice and alert rule, then a
  one-minute step (what every later evaluation costs: one query per SLO over the lookback);
- the KPI endpoint's queries for the month, and the stuck-order and missing-tracking detections.

The synthetic traffic carries no inventory snapshots or sync events, so the freshness SLO reads no
rows there (its cost is the scan that finds none), and the integration SLO's rows are every event,
each a delivered (good) step of its system: its cost is reading `system`, `carrier` and
`operation` (columns of `events`) for every event of the window.
Prints ms and ratios to count() and writes `bench/results/slo.json`.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import synthetic
from bench.common import META, Server, machine, post_all, table, wait_correlated, write_result


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median ms of `repeat` runs (after one warm-up), and the last result."""
    result = fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs), result


def measure(data_dir: Path, repeat: int) -> dict[str, Any]:
    # Imported here: the store is opened only once the server has let go of the data directory.
    from slo import detections, kpis
    from slo.engine import SloEngine, to_minute
    from slo.openslo import load_definitions
    from slo.sli import minute_rows
    from tower.clock import ManualClock
    from tower.store import Store

    store = Store(f"chdb://{(data_dir / 'clickhouse').resolve()}")
    tenant = ""
    rows = store.query("SELECT max(time) FROM {db}.events WHERE tenant = {t:String}", {"t": tenant}, role="slo")
    end = rows[0][0].replace(tzinfo=UTC)
    now = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    slos = load_definitions().slos
    figures: dict[str, Any] = {}

    def count(table_name: str) -> Callable[[], Any]:
        return lambda: store.query(
            f"SELECT count() FROM {{db}}.{table_name} WHERE tenant = {{t:String}}", {"t": tenant}, role="slo"
        )

    figures["count_events_ms"], n_events = timed(count("events"), repeat)
    figures["count_journey_events_ms"], n_members = timed(count("journey_events"), repeat)
    figures["scan_journey_events_ms"], _ = timed(
        lambda: store.query(
            "SELECT countIf(type = 'order.received'), max(time) FROM {db}.journey_events WHERE tenant = {t:String}",
            {"t": tenant},
            role="slo",
        ),
        repeat,
    )
    figures["events"] = int(n_events[0][0])
    figures["journey_events"] = int(n_members[0][0])

    hi = to_minute(now)
    span = 30 * 1440 + 4320
    per_slo = {}
    for slo in slos:
        ms, got = timed(functools.partial(minute_rows, store, tenant, slo.sli, hi - span, hi), repeat)
        per_slo[slo.name] = {"ms": round(ms, 2), "rows": len(got), "events": sum(g + b for _, _, g, b in got)}
    figures["slo_full_window"] = per_slo

    def first_evaluation() -> SloEngine:
        engine = SloEngine(store, ManualClock(now), slos, persist=False)
        engine.evaluate_until(now, [tenant])
        return engine

    figures["engine_first_evaluation_ms"], engine = timed(first_evaluation, repeat)
    step = {"minute": 0}

    def next_minute() -> None:
        step["minute"] += 1
        engine.evaluate_until(now + timedelta(minutes=step["minute"]), [tenant])

    figures["engine_minute_step_ms"], _ = timed(next_minute, repeat)
    summaries = engine.tenants[tenant].summaries
    figures["slices"] = sum(len(v) for v in summaries.values())
    figures["alerts"] = len(engine.alerts(tenant))
    start = end - timedelta(days=31)
    figures["kpis_month_ms"], body = timed(
        lambda: kpis.kpis(store, tenant, start, now, now, {"channel": None, "warehouse": None, "carrier": None}),
        repeat,
    )
    figures["kpi_orders"] = next(k["value"] for k in body["kpis"] if k["name"] == "orders")
    calendars = detections.Calendars.from_settings("*=06:00-22:00", "*=17:00", 6)
    figures["stuck_ms"], stuck = timed(lambda: detections.stuck(store, tenant, now, calendars), repeat)
    figures["stuck"] = len(stuck)
    figures["missing_tracking_ms"], missing = timed(
        lambda: detections.missing_tracking(store, tenant, now, calendars), repeat
    )
    figures["missing_tracking"] = len(missing)
    store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="a store loaded by bench.ingest --data-dir (reused as is)")
    args = parser.parse_args()

    reuse = args.data_dir is not None and (args.data_dir / META).exists()
    n_events, seed = args.events, args.seed
    if reuse:
        meta = json.loads((args.data_dir / META).read_text())
        n_events, seed = int(meta["events"]), int(meta["seed"])
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tower-bench-slo-"))
    loaded = None
    try:
        if not reuse:
            server = Server(data_dir, env={"TOWER_SLO_ENGINE": "false"}).start()
            try:
                print(f"loading {n_events:,} events over HTTP…", flush=True)
                stats = post_all(server.url, list(synthetic.ndjson_batches(n_events, args.batch, seed)), args.clients)
                wait_correlated(server.url, stats.accepted)
                loaded = {"accepted": stats.accepted, "seconds": round(stats.seconds, 2)}
                if args.data_dir is not None:
                    (data_dir / META).write_text(json.dumps({"events": n_events, "seed": seed}))
            finally:
                server.stop()
        print("timing SLO evaluation, KPIs and detections…", flush=True)
        figures = measure(data_dir, args.repeat)
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)

    base = figures["count_events_ms"]
    slo_total = sum(v["ms"] for v in figures["slo_full_window"].values())
    result = {
        "benchmark": "slo",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {"events": n_events, "seed": seed, "repeat": args.repeat, "reused_data_dir": reuse, "loaded": loaded},
        **figures,
        "all_slos_full_window_ms": round(slo_total, 2),
        "ratios_vs_count_events": {
            "all_slos_full_window": round(slo_total / base, 1),
            "engine_first_evaluation": round(figures["engine_first_evaluation_ms"] / base, 1),
            "engine_minute_step": round(figures["engine_minute_step_ms"] / base, 1),
            "kpis_month": round(figures["kpis_month_ms"] / base, 1),
            "scan_journey_events": round(figures["scan_journey_events_ms"] / base, 1),
            "stuck": round(figures["stuck_ms"] / base, 1),
            "missing_tracking": round(figures["missing_tracking_ms"] / base, 1),
        },
    }
    path = write_result("slo", result)
    rows = [("what", "ms (median)", "÷ count() events")]
    rows.append(("count() events", f"{base:.1f}", "1"))
    for key, label in (
        ("count_journey_events_ms", "count() journey_events"),
        ("scan_journey_events_ms", "scan of journey_events' type and time"),
    ):
        rows.append((label, f"{figures[key]:.1f}", f"{figures[key] / base:.1f}"))
    for name, v in figures["slo_full_window"].items():
        rows.append((f"SLO {name}, 33 days, every slice", f"{v['ms']:.1f}", f"{v['ms'] / base:.1f}"))
    for key, label in (
        ("engine_first_evaluation_ms", "engine: first evaluation (all SLOs, slices, alert rules)"),
        ("engine_minute_step_ms", "engine: one more minute"),
        ("kpis_month_ms", "KPIs, one month"),
        ("stuck_ms", "stuck orders"),
        ("missing_tracking_ms", "shipments missing tracking"),
    ):
        rows.append((label, f"{figures[key]:.1f}", f"{figures[key] / base:.1f}"))
    print(table(rows))
    print(f"{figures['events']:,} events, {figures['slices']} slices; written to {path}")


if __name__ == "__main__":
    main()
