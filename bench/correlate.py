"""Correlation throughput in process (no server, no store): `JourneyGraph.apply`, events/s.

    python -m bench.correlate [--events 1000000] [--chunk 20000] [--skip-ocel]

Two inputs: the OCEL 2.0 order-management log (`tests/support/ocel.py`: orders, items, packages
mixing several orders; about 21k events) and `--events` synthetic events (`bench/synthetic.py`).
Chunk by chunk (the correlator's batch size), each event is encoded to JSON bytes (untimed), then:

- baseline: `orjson.loads` + `orjson.dumps` of every event: the cheapest thing any stage does per
  event, timed in the same process on the same events, so the ratio cancels machine speed;
- validate: `tower.events.validate_event` on the decoded event (it re-encodes the payload too);
- apply: `JourneyGraph(DEFAULT_OBJECT_LEVELS).apply(event, seq)`: the figure this benchmark is for;
- rows: the CPU half of the correlator's write after each chunk: `take_changes()` and one journey
  row per changed journey (`Correlator._journey_row`, which runs `journey_state`), no store.

Prints a table and writes `bench/results/correlate.json`, with peak RSS (getrusage) and the RSS the
graph added.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from bench import synthetic
from bench.common import REPO, machine, mb, table, write_result
from correlator.engine import Correlator
from correlator.graph import JourneyGraph
from tower import memory
from tower.events import validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS


def rss_bytes() -> int:
    """Current RSS, after a full collection and giving freed heap back to the OS (so it counts live data)."""
    gc.collect()
    memory.release(min_interval=0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def chunks(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(events)
    while chunk := list(islice(it, size)):
        yield chunk


def run(name: str, events: Iterable[dict[str, Any]], chunk_size: int) -> dict[str, Any]:
    rss_before = rss_bytes()
    graph = JourneyGraph(DEFAULT_OBJECT_LEVELS)
    correlator = Correlator(None, None, DEFAULT_OBJECT_LEVELS)  # type: ignore[arg-type]  # rows only, no store
    correlator.graph = graph
    seconds = {"baseline": 0.0, "validate": 0.0, "apply": 0.0, "rows": 0.0}
    n = 0
    invalid = 0
    journey_rows = 0
    seq = 0
    loads, dumps = orjson.loads, orjson.dumps
    for chunk in chunks(events, chunk_size):
        blobs = [dumps(e) for e in chunk]  # what arrives on the wire; untimed

        t0 = time.perf_counter()
        decoded = [loads(b) for b in blobs]
        for d in decoded:
            dumps(d)
        t1 = time.perf_counter()
        validated = [validate_event(d)[0] for d in decoded]
        t2 = time.perf_counter()
        for event in validated:
            seq += 1
            if event is not None:
                graph.apply(event, seq)
        t3 = time.perf_counter()
        changes = graph.take_changes()
        version = correlator._next_version()
        for journey_id in changes.journeys:
            if journey_id in graph.journeys:
                correlator._journey_row(journey_id, version)
                journey_rows += 1
        t4 = time.perf_counter()

        seconds["baseline"] += t1 - t0
        seconds["validate"] += t2 - t1
        seconds["apply"] += t3 - t2
        seconds["rows"] += t4 - t3
        n += len(chunk)
        invalid += sum(1 for e in validated if e is None)
    del blobs, decoded, validated, changes, chunk
    rss_after = rss_bytes()
    rates = {k: round(n / v, 1) if v else None for k, v in seconds.items()}
    base = rates["baseline"] or 1.0
    return {
        "events": n,
        "invalid": invalid,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "events_per_s": rates,
        "ratios_vs_baseline": {k: round(v / base, 4) for k, v in rates.items() if v and k != "baseline"},
        "journeys": len(graph.journeys),
        "objects": len(graph.objects),
        "journey_rows_built": journey_rows,
        "graph_rss_bytes": rss_after - rss_before,
        "graph_rss_bytes_per_event": round((rss_after - rss_before) / max(1, n)),
        "peak_rss_bytes_so_far": peak_rss_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="synthetic events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=20_000, help="events per step (the correlator's batch)")
    parser.add_argument("--skip-ocel", action="store_true")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    if not args.skip_ocel:
        from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical

        print(f"OCEL order-management ({OCEL_ORDER_MANAGEMENT.name})…", flush=True)
        ocel = ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT))
        results["ocel"] = run("ocel", ocel, args.chunk)
        del ocel
    print(f"synthetic: {args.events:,} events (seed {args.seed})…", flush=True)
    results["synthetic"] = run("synthetic", synthetic.events(args.events, args.seed), args.chunk)

    result = {
        "benchmark": "correlate",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {"events": args.events, "seed": args.seed, "chunk": args.chunk},
        **results,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    path = write_result("correlate", result)

    rows = [
        (
            "input",
            "events",
            "baseline ev/s",
            "validate ev/s",
            "apply ev/s",
            "rows ev/s",
            "apply / base",
            "validate / base",
            "graph RSS/ev",
        )
    ]
    for name, r in results.items():
        rate, ratio = r["events_per_s"], r["ratios_vs_baseline"]
        rows.append(
            (
                name,
                f"{r['events']:,}",
                f"{rate['baseline']:,.0f}",
                f"{rate['validate']:,.0f}",
                f"{rate['apply']:,.0f}",
                f"{rate['rows']:,.0f}",
                f"{ratio['apply']:.4f}",
                f"{ratio['validate']:.4f}",
                f"{r['graph_rss_bytes_per_event']:,} B",
            )
        )
    print()
    print(table(rows))
    for name, r in results.items():
        print(
            f"{name}: {r['journeys']:,} journeys, {r['objects']:,} objects, {r['journey_rows_built']:,} journey "
            f"rows built, graph added {mb(r['graph_rss_bytes'])} RSS"
        )
    print(f"peak RSS {mb(result['peak_rss_bytes'])}")
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
