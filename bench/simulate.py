"""Simulated events per second end to end — simulator → native payloads → adapters over HTTP → journeys —
against the simulator generating the same traffic without sending it, in the same run.

    python -m bench.simulate --days 30 --orders-per-day 2000

The baseline (generation alone, the same seed and span) runs first; then an embedded tower is
started on a driven clock and the same traffic is delivered, counted to the point where the
correlator has applied every event. The figure that matters is the ratio: how much of the
simulator's own pace the tower keeps up with.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import metrics, proc_status, table, write_result
from simulator.run import Plan, deliver, generate, secrets_env
from simulator.score import score
from tower.processes import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--orders-per-day", type=float, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument(
        "--per-message", action="store_true", help="one request per delivery instead of a step's in one /v1/deliveries"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the store here (default: a temporary dir)")
    args = parser.parse_args()
    start = datetime(2026, 9, 1, tzinfo=UTC)
    plan = Plan(start, args.days, args.orders_per_day, args.seed, args.scenario)

    simulation, generated = generate(plan)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    began = time.perf_counter()
    with ServerProcess(data_dir, {**secrets_env(), "TOWER_CLOCK": "2026-09-01T00:00:00Z"}) as server:
        simulation, report = deliver(plan, server.url, concurrency=args.concurrency, batch=not args.per_message)
        end_to_end = time.perf_counter() - began
        assert server.pid is not None
        server_side = proc_status(server.pid)
        counters = metrics(server.url)
        # after the clock stopped: the month's journeys against what really happened (not timed)
        with httpx.Client(base_url=server.url, timeout=300) as client:
            agreement = score(client, simulation.truth, sample=300, seed=3)
            # and its alerts: a month without --scenario must page nobody
            client.post("/v1/slos/evaluate").raise_for_status()
            alerts = {
                severity: client.get("/v1/alerts", params={"severity": severity, "limit": 1000}).json()
                for severity in ("page", "ticket")
            }
            slos = client.get("/v1/slos").json()["items"]
    if args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    events = report.accepted + report.duplicates
    result = {
        "plan": {
            "days": args.days,
            "orders_per_day": args.orders_per_day,
            "seed": args.seed,
            "scenarios": args.scenario,
            "delivery": "per message" if args.per_message else "batched per step (/v1/deliveries)",
        },
        "orders": len(simulation.truth.orders),
        "messages": report.messages,
        "events": events,
        "spans": report.spans,
        "generate_seconds": generated["seconds"],
        "deliver_seconds": round(report.seconds, 2),
        "end_to_end_seconds": round(end_to_end, 2),
        "generate_events_per_s": round(events / generated["seconds"]),
        "end_to_end_events_per_s": round(events / end_to_end),
        "ratio": round(generated["seconds"] / end_to_end, 3),
        "sha256": generated["sha256"],
        # where the time went: the server's process tree (server + correlator) and this process
        "server_cpu_seconds": server_side.get("cpu_seconds"),
        "server_peak_rss_bytes": server_side.get("VmHWM"),  # the server and its correlator process, summed
        "server_own_peak_rss_bytes": server_side.get("own_VmHWM"),
        "bench_cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        "agreement": {
            "orders": agreement["orders"],
            "journeys": agreement["journeys"],
            "sampled_orders_disagreeing": len(agreement["disagreements"]),
            "counts_disagreeing": {
                label: counts
                for label, counts in {**agreement["by_stage"], **agreement["by_status"]}.items()
                if counts["tower"] != counts["truth"]
            },
        },
        "alerts": {
            severity: {
                "total": found["total"],
                "first": [
                    {"labels": a["labels"], "starts_at": a["starts_at"], "state": a.get("state")}
                    for a in found["items"][:20]
                ],
            }
            for severity, found in alerts.items()
        },
        "slos_not_ok": [
            {"name": s["name"], "status": s["status"], "budget_remaining": s.get("budget_remaining")}
            for s in slos
            if s["status"] != "ok"
        ],
        "server_counters": {
            name: counters.get(name)
            for name in (
                "tower_writer_batches_total",
                "tower_writer_write_seconds_total",
                "tower_telemetry_batches_total",
                "tower_telemetry_write_seconds_total",
                "tower_correlator_batches_total",
                "tower_correlator_apply_seconds_total",
                "tower_correlator_write_seconds_total",
            )
        },
    }
    path = write_result("simulate", result)
    print(
        table(
            [
                ("measure", "seconds", "events/s", "× generate"),
                (
                    "generate only (baseline)",
                    f"{generated['seconds']:.1f}",
                    f"{result['generate_events_per_s']:,}",
                    "1",
                ),
                (
                    "end to end, correlated",
                    f"{end_to_end:.1f}",
                    f"{result['end_to_end_events_per_s']:,}",
                    f"{result['ratio']:.3f}",
                ),
            ]
        )
    )
    print(
        f"{result['orders']:,} orders, {report.messages:,} messages, {events:,} events, {report.spans:,} spans → {path}"
    )
    a = result["agreement"]
    print(
        f"ground truth: {a['journeys']:,} journeys for {a['orders']:,} orders; {a['sampled_orders_disagreeing']} of "
        f"300 sampled orders and {len(a['counts_disagreeing'])} stage/status counts per channel disagree"
    )
    print(
        f"alerts over the run: {result['alerts']['page']['total']} pages, {result['alerts']['ticket']['total']} "
        f"tickets; SLOs not ok: {[s['name'] for s in result['slos_not_ok']] or 'none'}"
        + ("" if args.scenario else " (no --scenario: a quiet month must page nobody)")
    )
    print(
        f"CPU: server and correlator {result['server_cpu_seconds']} s, this process (generating and sending) "
        f"{result['bench_cpu_seconds']} s; server counters {result['server_counters']}"
    )


if __name__ == "__main__":
    main()
