"""Ingest throughput: events/s end to end through `POST /v1/events`, then through the correlator too.

    python -m bench.ingest [--events 200000] [--batch 5000] [--clients 4] [--data-dir DIR]

1. Baseline, in a separate process (chDB: one process per data dir, one engine path per process),
   run before and again after the server: the same events as `events` rows
   (`collector.writer.EVENT_SCHEMA`, built beforehand, outside the timing), inserted with
   `Store.insert_arrow` into a freshly migrated store, `--batch` rows per insert. That is the floor
   of what the server does per event: what the server adds on top (HTTP, parsing, validation,
   dedupe, group commit, and the correlator) is what the ratio shows.
2. A `tower serve` subprocess on a fresh data dir; the NDJSON bodies are generated before the clock
   starts; `--clients` concurrent connections post them. "ingest" = events / (first POST → last 202);
   "ingest+correlation" = events / (first POST → correlator lag 0 with every event applied).

Prints a table and writes `bench/results/ingest.json`. `--data-dir DIR` keeps the loaded store
(and a `bench-meta.json`) for `python -m bench.query --data-dir DIR`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import synthetic
from bench.common import (
    META,
    REPO,
    Server,
    machine,
    mb,
    metrics,
    percentile,
    post_all,
    proc_status,
    table,
    wait_correlated,
    write_result,
)

BASELINE_CHUNK = 500_000  # rows built (untimed) then inserted (timed) per round, to bound the child's memory


def baseline_child(n_events: int, batch: int, seed: int, limit: int | None = None) -> dict[str, Any]:
    """In this (child) process only: insert the events' rows (the first `limit` of them, if given)
    straight into a fresh store, timed."""
    import pyarrow as pa

    from collector.app import MIGRATIONS
    from collector.writer import EVENT_TIME, event_table
    from tower.events import event_key_hash, validate_event
    from tower.store import Store

    data_dir = Path(tempfile.mkdtemp(prefix="tower-bench-baseline-"))
    try:
        store = Store(f"chdb://{data_dir / 'clickhouse'}")
        store.migrate(MIGRATIONS)
        now = datetime.now(UTC)
        seq = 1
        insert_seconds = 0.0
        build_seconds = 0.0
        rows = 0
        inserts = 0
        stream = itertools.islice(synthetic.events(n_events, seed), limit)
        done = False
        while not done:
            built = time.perf_counter()
            tables = []
            for _ in range(max(1, BASELINE_CHUNK // batch)):
                chunk = []
                for value in stream:
                    event, problems = validate_event(value)
                    if event is None:
                        raise ValueError(f"synthetic event does not validate: {problems}")
                    chunk.append(event)
                    if len(chunk) == batch:
                        break
                if not chunk:
                    done = True
                    break
                tables.append(
                    event_table(
                        chunk,
                        range(seq, seq + len(chunk)),
                        [event_key_hash(e.tenant, e.source, e.id) for e in chunk],
                        pa.array([e.time for e in chunk], EVENT_TIME),
                        now,
                    )
                )
                seq += len(chunk)
                if len(chunk) < batch:
                    done = True
                    break
            build_seconds += time.perf_counter() - built
            started = time.perf_counter()
            for t in tables:
                store.insert_arrow("events", t)
            insert_seconds += time.perf_counter() - started
            rows += sum(t.num_rows for t in tables)
            inserts += len(tables)
        stored = store.query("SELECT count() FROM {db}.events")[0][0]
        store.close()
        return {
            "rows": rows,
            "stored": int(stored),
            "inserts": inserts,
            "batch": batch,
            "insert_seconds": round(insert_seconds, 3),
            "rows_per_s": round(rows / insert_seconds, 1),
            "build_seconds_untimed": round(build_seconds, 3),
        }
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run_baseline(n_events: int, batch: int, seed: int, limit: int | None = None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "--baseline-child",
                "--events",
                str(n_events),
                "--batch",
                str(batch),
                "--seed",
                str(seed),
                "--child-out",
                out.name,
                *(["--baseline-events", str(limit)] if limit else []),
            ],
            cwd=REPO,
            check=True,
        )
        return json.loads(Path(out.name).read_text())


def load(server: Server, bodies: list[bytes], n_events: int, clients: int) -> dict[str, Any]:
    """Post the bodies, wait for the correlator; the figures of one load."""
    stats = post_all(server.url, bodies, clients)
    correlated_at = wait_correlated(server.url, stats.accepted)
    if stats.accepted != n_events or stats.rejected:
        raise RuntimeError(
            f"expected {n_events} accepted, got {stats.accepted} "
            f"({stats.duplicates} duplicates, {stats.rejected} rejected)"
        )
    corr_seconds = correlated_at - stats.started
    return {
        "events": n_events,
        "requests": stats.requests,
        "retries_429": stats.retries_429,
        "transport_retries": stats.transport_retries,
        "ingest_seconds": round(stats.seconds, 3),
        "ingest_events_per_s": round(n_events / stats.seconds, 1),
        "ingest_correlation_seconds": round(corr_seconds, 3),
        "ingest_correlation_events_per_s": round(n_events / corr_seconds, 1),
        "post_latency_p50_ms": round(percentile(stats.latencies, 50) * 1000, 1),
        "post_latency_p99_ms": round(percentile(stats.latencies, 99) * 1000, 1),
    }


def generate_bodies(n_events: int, batch: int, seed: int) -> tuple[list[bytes], float]:
    started = time.perf_counter()
    bodies = list(synthetic.ndjson_batches(n_events, batch, seed))
    return bodies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="events per request (and per baseline insert)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, help="load into this (new) dir and keep it, e.g. for bench.query")
    parser.add_argument("--skip-baseline", action="store_true", help="no baseline (no ratio)")
    parser.add_argument(
        "--baseline-events",
        type=int,
        help="insert only the first N of the events in each baseline run (its rows/s is the ratio's base; "
        "at 10M a full baseline takes 10 minutes a run)",
    )
    parser.add_argument("--baseline-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.baseline_child:
        args.child_out.write_text(json.dumps(baseline_child(args.events, args.batch, args.seed, args.baseline_events)))
        return

    baselines: list[dict[str, Any]] = []

    def baseline_run(when: str) -> None:
        print(
            f"baseline ({when}): insert_arrow of {args.baseline_events or args.events:,} rows, {args.batch:,} per "
            "insert (separate process)…",
            flush=True,
        )
        baselines.append({"when": when, **run_baseline(args.events, args.batch, args.seed, args.baseline_events)})

    if not args.skip_baseline:
        baseline_run("before")

    print(f"generating {args.events:,} events as NDJSON bodies of {args.batch:,}…", flush=True)
    bodies, gen_seconds = generate_bodies(args.events, args.batch, args.seed)
    body_bytes = sum(len(b) for b in bodies)

    keep = args.data_dir is not None
    if keep and args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"--data-dir {args.data_dir} is not empty; the benchmark loads a fresh store")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tower-bench-ingest-"))
    server = Server(data_dir).start()
    try:
        print(f"posting with {args.clients} clients to {server.url}…", flush=True)
        figures = load(server, bodies, args.events, args.clients)
        counters = metrics(server.url)
        status = proc_status(server.pid)
        stop_seconds = server.stop()
        if keep:
            (data_dir / META).write_text(json.dumps({"events": args.events, "seed": args.seed}))
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    if not args.skip_baseline:
        baseline_run("after")  # twice, around the server run: their spread shows how noisy the machine is
    baseline = None
    if baselines:
        seconds = sum(b["insert_seconds"] for b in baselines)
        baseline = {
            "rows_per_s": round(sum(b["rows"] for b in baselines) / seconds, 1),
            "insert_seconds": round(seconds / len(baselines), 3),
            "runs": baselines,
        }

    writer_batches = counters.get("tower_writer_batches_total", 0) or 1
    server_side = {
        "writer_batches": int(counters.get("tower_writer_batches_total", 0)),
        "writer_mean_batch_events": round(counters.get("tower_events_accepted_total", 0) / writer_batches, 1),
        "writer_write_seconds": round(counters.get("tower_writer_write_seconds_total", 0), 3),
        "correlator_apply_seconds": round(counters.get("tower_correlator_apply_seconds_total", 0), 3),
        "correlator_write_seconds": round(counters.get("tower_correlator_write_seconds_total", 0), 3),
        "correlator_insert_seconds": round(counters.get("tower_correlator_insert_seconds_total", 0), 3),
        "correlator_late_payloads": int(counters.get("tower_correlator_late_payloads_total", 0)),
        "correlator_late_payload_seconds": round(counters.get("tower_correlator_late_payload_seconds_total", 0), 3),
        "journeys": int(counters.get("tower_journeys", 0)),
        "peak_rss_bytes": status.get("VmHWM"),
        "server_own_peak_rss_bytes": status.get("own_VmHWM"),
        "rss_at_end_bytes": status.get("VmRSS"),
        "cpu_seconds": status.get("cpu_seconds"),
        "shutdown_seconds": round(stop_seconds, 2),
    }
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {
            "events": args.events,
            "batch": args.batch,
            "clients": args.clients,
            "seed": args.seed,
            "body_bytes": body_bytes,
            "generate_seconds_untimed": round(gen_seconds, 2),
        },
        "server": figures,
        "server_side": server_side,
        "baseline": baseline,
    }
    if baseline:
        result["ratios"] = {
            "ingest_vs_insert_arrow": round(figures["ingest_events_per_s"] / baseline["rows_per_s"], 4),
            "ingest_correlation_vs_insert_arrow": round(
                figures["ingest_correlation_events_per_s"] / baseline["rows_per_s"], 4
            ),
        }
    path = write_result("ingest", result)

    base = baseline["rows_per_s"] if baseline else None
    rows: list[tuple[str, ...]] = [("measure", "events/s", "seconds", "vs baseline")]
    if baseline:
        rows.append(("baseline insert_arrow (rows)", f"{base:,.0f}", f"{baseline['insert_seconds']:.2f}", "1.000"))
        for b in baseline["runs"]:
            rows.append(
                (
                    f"  run {b['when']} the server",
                    f"{b['rows_per_s']:,.0f}",
                    f"{b['insert_seconds']:.2f}",
                    f"{b['rows_per_s'] / base:.3f}",
                )
            )
    for label, rate, secs in (
        ("ingest (POST → 202)", figures["ingest_events_per_s"], figures["ingest_seconds"]),
        ("ingest + correlation", figures["ingest_correlation_events_per_s"], figures["ingest_correlation_seconds"]),
    ):
        rows.append((label, f"{rate:,.0f}", f"{secs:.2f}", f"{rate / base:.3f}" if base else "n/a"))
    print()
    print(table(rows))
    print(
        f"\nPOST latency p50 {figures['post_latency_p50_ms']} ms, p99 {figures['post_latency_p99_ms']} ms; "
        f"{figures['retries_429']} × 429; writer: {server_side['writer_batches']} commits, mean "
        f"{server_side['writer_mean_batch_events']:,.0f} events, {server_side['writer_write_seconds']} s; "
        f"correlator: apply {server_side['correlator_apply_seconds']} s, write "
        f"{server_side['correlator_write_seconds']} s (inserts {server_side['correlator_insert_seconds']} s, "
        f"{server_side['correlator_late_payloads']:,} late members' payloads read in "
        f"{server_side['correlator_late_payload_seconds']} s)"
    )
    print(
        f"peak RSS, server + correlator (sum of the two peaks) {mb(server_side['peak_rss_bytes'])}, "
        f"the server's own {mb(server_side['server_own_peak_rss_bytes'])}; CPU {server_side['cpu_seconds']} s, "
        f"{server_side['journeys']:,} journeys, shutdown {server_side['shutdown_seconds']} s"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
