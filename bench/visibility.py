"""Ack → visible: how long after a `202` an event shows in its journey (the spine's "within 1 s").

    python -m bench.visibility [--events 300] [--gap-ms 20] [--background 0]

Posts single events one at a time (each a new order, or the next milestone of one), and after
each `202` polls `GET /v1/lookup` until the order's journey holds the event. Baseline in the same
run: the round trip of `GET /healthz`. With `--background N`, N events/s of other traffic are
posted meanwhile, so the correlator works under load. Writes `bench/results/visibility.json`.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench import synthetic
from bench.common import Server, machine, percentile, table, write_result


def event(n: int) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"vis-{n}",
        "source": "shopify/vis",
        "type": "order.received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": [{"type": "order", "ids": {"shopify/vis": f"#{n}"}}]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=20)
    parser.add_argument("--background", type=int, default=0, help="events/s of other traffic meanwhile")
    args = parser.parse_args()

    server = Server(Path(tempfile.mkdtemp(prefix="tower-vis-"))).start()
    stop = threading.Event()

    def background() -> None:
        bodies = synthetic.ndjson_batches(10_000_000, 500)
        with httpx.Client(base_url=server.url, timeout=60) as c:
            while not stop.is_set():
                started = time.monotonic()
                c.post("/v1/events", content=next(bodies), headers={"Content-Type": "application/x-ndjson"})
                time.sleep(max(0.0, 500 / args.background - (time.monotonic() - started)))

    worker = threading.Thread(target=background, daemon=True) if args.background else None
    if worker:
        worker.start()
    visible: list[float] = []
    health: list[float] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for n in range(args.events):
                t0 = time.perf_counter()
                c.get("/healthz")
                health.append(time.perf_counter() - t0)
                r = c.post(
                    "/v1/events",
                    content=orjson.dumps(event(n)),
                    headers={"Content-Type": "application/cloudevents+json"},
                )
                assert r.status_code == 202, r.text
                acked = time.perf_counter()
                while not c.get("/v1/lookup", params={"q": f"#{n}"}).json()["matches"]:
                    time.sleep(0.005)
                visible.append(time.perf_counter() - acked)
                time.sleep(args.gap_ms / 1000)
    finally:
        stop.set()
        server.stop()
    p = {
        name: (percentile(xs, 50), percentile(xs, 99), max(xs))
        for name, xs in (("ack→visible", visible), ("healthz", health))
    }
    print(
        table(
            [
                ("", "p50 ms", "p99 ms", "max ms"),
                *[(k, f"{a * 1000:.1f}", f"{b * 1000:.1f}", f"{c * 1000:.1f}") for k, (a, b, c) in p.items()],
            ]
        )
    )
    write_result(
        "visibility",
        {
            "benchmark": "visibility",
            "machine": machine(),
            "params": vars(args),
            "ack_to_visible_s": {"p50": p["ack→visible"][0], "p99": p["ack→visible"][1], "max": p["ack→visible"][2]},
            "healthz_s": {"p50": p["healthz"][0], "p99": p["healthz"][1]},
            "ratio_p50_vs_healthz": p["ack→visible"][0] / p["healthz"][0],
            "within_1s": sum(1 for v in visible if v <= 1.0) / len(visible),
        },
    )


if __name__ == "__main__":
    main()
