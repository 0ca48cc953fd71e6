"""Read latency: `GET /v1/lookup?q=` then `GET /v1/journeys/{id}`, one identifier at a time.

    python -m bench.query [--events 200000] [--data-dir DIR] [--queries 1000]

Against a server holding N synthetic events: with `--data-dir DIR` (a store loaded by
`python -m bench.ingest --data-dir DIR`, whose `bench-meta.json` gives N and the seed) it serves that
store; otherwise it loads N events over HTTP into a fresh temp dir first. It then picks `--queries`
random identifiers the events named — web-store numbers (#1042), EDI PO numbers, ERP numbers
(SO-100042) and tracking numbers — and, sequentially on one keep-alive connection, times the lookup,
then the journey page of the first journey it returned. From a loaded store, the identifiers are
read from its `identifiers` table before the server starts; otherwise they come from the events.
Baseline, interleaved in the same run: `GET /healthz` (the same HTTP stack, no store), once per
identifier.

Prints p50/p99 of each and writes `bench/results/query.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import synthetic
from bench.common import (
    META,
    REPO,
    Server,
    machine,
    mb,
    percentile,
    post_all,
    proc_status,
    table,
    wait_correlated,
    wait_first_evaluation,
    write_result,
)
from tower.store import Store
from tower.timing import server_ms

WARMUP = 20


def pick_identifiers(n_events: int, seed: int, count: int) -> list[tuple[str, str]]:
    """`count` (kind, identifier) pairs named by the events, a third each channel / ERP / tracking numbers."""
    kinds: dict[str, list[str]] = {"channel": [], "erp": [], "tracking": []}
    seen: set[str] = set()
    for event in synthetic.events(n_events, seed):
        for obj in event["data"]["objects"]:
            for ns, value in obj["ids"].items():
                if value in seen:
                    continue
                seen.add(value)
                if ns in ("shopify/acme", "po:acme"):
                    kinds["channel"].append(value)
                elif ns == "erp":
                    kinds["erp"].append(value)
                elif ns.startswith("tracking:"):
                    kinds["tracking"].append(value)
    rng = random.Random(seed + 7)
    picked = [(kind, rng.choice(values)) for kind, values in kinds.items() for _ in range(count // 3 + 1)]
    rng.shuffle(picked)
    return picked[:count]


def identifiers_from_store(data_dir: Path, seed: int, count: int) -> list[tuple[str, str]]:
    """The same mix as `pick_identifiers`, read from a loaded store's `identifiers` table (seconds, where
    generating 10M events again takes minutes). Run before the server opens the store: chDB allows one
    process per data directory."""
    store = Store(f"chdb://{data_dir / 'clickhouse'}")
    try:
        rows = store.query(
            "SELECT multiIf(namespace IN ('shopify/acme', 'po:acme'), 'channel', namespace = 'erp', 'erp', "
            "startsWith(namespace, 'tracking:'), 'tracking', '') AS kind, value FROM {db}.identifiers "
            "WHERE kind != '' ORDER BY cityHash64(value, {seed:UInt64}) LIMIT {k:UInt32} BY kind",
            {"seed": seed, "k": count // 3 + 1},
            role="bench",
        )
    finally:
        store.close()
    picked = [(str(kind), str(value)) for kind, value in rows]
    random.Random(seed + 7).shuffle(picked)
    return picked[:count]


def stats_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(sum(values) / len(values) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def measure(url: str, identifiers: list[tuple[str, str]]) -> dict[str, Any]:
    health: list[float] = []
    lookups: list[float] = []
    journeys: list[float] = []
    pairs: list[float] = []
    by_kind: dict[str, list[float]] = {}
    misses: list[str] = []
    journey_events: list[int] = []
    journey_bytes: list[int] = []
    # the server's own time for each request (its Server-Timing header): what the store and the
    # application cost, apart from HTTP and this client
    lookup_server: list[float] = []
    journey_server: list[float] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(WARMUP):
            client.get("/healthz")
            client.get("/v1/lookup", params={"q": identifiers[0][1]})
        for kind, q in identifiers:
            t0 = time.perf_counter()
            r = client.get("/healthz")
            t1 = time.perf_counter()
            r.raise_for_status()
            health.append(t1 - t0)

            t0 = time.perf_counter()
            r = client.get("/v1/lookup", params={"q": q})
            t1 = time.perf_counter()
            r.raise_for_status()
            lookup_timing = r.headers.get("server-timing")
            matches = r.json()["matches"]
            journey_id = next((j for m in matches for j in m["journeys"]), None)
            if journey_id is None:
                misses.append(q)
                continue
            t2 = time.perf_counter()
            r = client.get(f"/v1/journeys/{journey_id}")
            t3 = time.perf_counter()
            r.raise_for_status()
            server = server_ms(lookup_timing), server_ms(r.headers.get("server-timing"))
            if server[0] is not None and server[1] is not None:
                lookup_server.append(server[0] / 1000)
                journey_server.append(server[1] / 1000)
            journey_events.append(len(r.json()["events"]))
            journey_bytes.append(len(r.content))
            lookups.append(t1 - t0)
            journeys.append(t3 - t2)
            pairs.append((t1 - t0) + (t3 - t2))
            by_kind.setdefault(kind, []).append((t1 - t0) + (t3 - t2))
    if not pairs:
        raise RuntimeError(f"no identifier found a journey (e.g. {misses[:5]}); is the store loaded?")
    return {
        "healthz": stats_ms(health),
        "lookup": stats_ms(lookups),
        "journey": stats_ms(journeys),
        "pair": stats_ms(pairs),
        "pair_by_identifier_kind": {k: stats_ms(v) for k, v in sorted(by_kind.items())},
        "lookup_in_server": stats_ms(lookup_server) if lookup_server else None,
        "journey_in_server": stats_ms(journey_server) if journey_server else None,
        "queries": len(identifiers),
        "misses": len(misses),
        "miss_examples": misses[:10],
        "journey_events_mean": round(sum(journey_events) / len(journey_events), 2),
        "journey_bytes_mean": round(sum(journey_bytes) / len(journey_bytes)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events to load (ignored with a loaded --data-dir)")
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--data-dir", type=Path, help="a store loaded by bench.ingest --data-dir (reused as is)")
    args = parser.parse_args()

    n_events, seed = args.events, args.seed
    reuse = args.data_dir is not None and (args.data_dir / META).exists()
    if args.data_dir is not None and not reuse and args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"{args.data_dir} has no {META}: load it with python -m bench.ingest --data-dir")
    if reuse:
        meta = json.loads((args.data_dir / META).read_text())
        n_events, seed = int(meta["events"]), int(meta["seed"])
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tower-bench-query-"))

    print(f"picking {args.queries} identifiers among {n_events:,} events (seed {seed})…", flush=True)
    if reuse:
        identifiers = identifiers_from_store(data_dir, seed, args.queries)
    else:
        identifiers = pick_identifiers(n_events, seed, args.queries)
    server = Server(data_dir).start()
    loaded = None
    try:
        if reuse:
            print(f"serving the loaded store in {data_dir}", flush=True)
            # Timing starts once the correlator has restored its snapshot: loading it (tens of
            # seconds of a core at 10M events) would otherwise share the cores with the first queries.
            wait_correlated(server.url, 1)
            wait_first_evaluation(server.url)  # likewise: the SLO engine's first evaluation reads whole windows
        else:
            print(f"loading {n_events:,} events over HTTP…", flush=True)
            stats = post_all(server.url, list(synthetic.ndjson_batches(n_events, args.batch, seed)), args.clients)
            wait_correlated(server.url, stats.accepted)
            loaded = {"accepted": stats.accepted, "seconds": round(stats.seconds, 2)}
            if args.data_dir is not None:
                (data_dir / META).write_text(json.dumps({"events": n_events, "seed": seed}))
        print(f"timing {len(identifiers)} lookups + journeys, with /healthz interleaved…", flush=True)
        figures = measure(server.url, identifiers)
        status = proc_status(server.pid)
    finally:
        server.stop()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)

    base = figures["healthz"]
    result = {
        "benchmark": "query",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {
            "events": n_events,
            "seed": seed,
            "queries": args.queries,
            "reused_data_dir": reuse,
            "loaded": loaded,
        },
        **figures,
        "ratios_vs_healthz": {
            name: {
                "p50": round(figures[name]["p50_ms"] / base["p50_ms"], 2),
                "p99": round(figures[name]["p99_ms"] / base["p99_ms"], 2),
            }
            for name in ("lookup", "journey", "pair")
        },
        "server_peak_rss_bytes": status.get("VmHWM"),  # the server and its correlator process, summed
        "server_own_peak_rss_bytes": status.get("own_VmHWM"),
    }
    path = write_result("query", result)

    rows = [("request", "p50 ms", "p99 ms", "p50 / healthz", "p99 / healthz")]
    for name, label in (
        ("healthz", "GET /healthz (baseline)"),
        ("lookup", "GET /v1/lookup?q="),
        ("journey", "GET /v1/journeys/{id}"),
        ("pair", "lookup + journey"),
    ):
        f = figures[name]
        rows.append(
            (
                label,
                f"{f['p50_ms']:.2f}",
                f"{f['p99_ms']:.2f}",
                f"{f['p50_ms'] / base['p50_ms']:.1f}",
                f"{f['p99_ms'] / base['p99_ms']:.1f}",
            )
        )
    print()
    print(table(rows))
    inside = [(n, figures[f"{n}_in_server"]) for n in ("lookup", "journey") if figures[f"{n}_in_server"]]
    if inside:
        print(
            "\nin the server (Server-Timing): "
            + "; ".join(f"{n} p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms" for n, v in inside)
        )
    kinds = ", ".join(f"{k} p50 {v['p50_ms']} ms" for k, v in figures["pair_by_identifier_kind"].items())
    print(f"\npair by identifier kind: {kinds}")
    print(
        f"{figures['misses']} of {figures['queries']} identifiers found no journey; journeys hold "
        f"{figures['journey_events_mean']} events ({figures['journey_bytes_mean']:,} bytes) on average; "
        f"peak RSS, server + correlator (sum of the two peaks) {mb(status.get('VmHWM'))}, "
        f"the server's own {mb(status.get('own_VmHWM'))}"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
