"""What a dashboard page costs the server: the requests behind each page, fetched and shaped by the
dashboard's own data functions, against a store of N synthetic events.

    python -m bench.dashboard [--events 200000] [--data-dir DIR] [--rounds 50]

The store comes from `python -m bench.ingest --data-dir DIR` or is loaded here over HTTP. Each round,
timed one after another on one keep-alive connection:

- *executive*: the filter lists and journey count (`/v1/journeys/summary?by=channel,warehouse,carrier`)
  and the stage funnel (`by=stage`), all orders (no date filter: the worst case);
- *operations*: the stuck-order heatmap (`by=stage,warehouse&status=stuck`), the first page of the
  busiest cell's orders, and the first page of dead letters.

Baselines in the same run: `GET /healthz` once per round (the HTTP stack without the store), and,
once, what the server-side summary saves: paging every journey (`limit=1000`) to count the heatmap's
cells in the client, as a dashboard without the summary endpoint would.

Prints p50/p99 and ratios; writes `bench/results/dashboard.json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import synthetic
from bench.common import META, REPO, Server, machine, percentile, post_all, table, wait_correlated, write_result
from dashboard import data
from dashboard.client import Api, Connection


class TimedApi(Api):
    """The dashboard's client, timing each GET by what it asks (path, and `by` and `status` of summaries)."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, timeout=600)
        self.times: dict[str, list[float]] = {}

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        t0 = time.perf_counter()
        body = super().get(path, params)
        p = params or {}
        name = path + "".join(f" {k}={p[k]}" for k in ("by", "status") if p.get(k))
        self.times.setdefault(name, []).append(time.perf_counter() - t0)
        return body


def executive(api: Api) -> int:
    options = data.filter_options(api)
    frame, _ = data.funnel(api, data.Filters())
    return len(options.values) + len(frame)


def operations(api: Api) -> int:
    try:
        heat = data.stuck_heatmap(api)
    except data.NoData:
        return 0
    stage, warehouse, _ = heat.cells[0]
    frame, _, _ = data.journeys_page(api, status="stuck", stage=stage, warehouse=warehouse)
    data.dead_letters(api)
    return len(frame)


def page_all_journeys(url: str) -> tuple[float, int, Counter[tuple[str, str | None]]]:
    """Every journey through `GET /v1/journeys`, a thousand at a time, counted by stage and warehouse."""
    counts: Counter[tuple[str, str | None]] = Counter()
    pages = 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as client:
        cursor = None
        while True:
            body = client.get("/v1/journeys", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            pages += 1
            counts.update((i["stage"], i["warehouse"]) for i in body["items"])
            cursor = body["next"]
            if not cursor:
                break
    return time.perf_counter() - t0, pages, counts


def ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50) * 1000, 2), "p99_ms": round(percentile(values, 99) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events to load (ignored with a loaded --data-dir)")
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, help="a store loaded by bench.ingest --data-dir (reused as is)")
    args = parser.parse_args()

    n_events = args.events
    reuse = args.data_dir is not None and (args.data_dir / META).exists()
    if reuse:
        n_events = int(json.loads((args.data_dir / META).read_text())["events"])
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tower-bench-dashboard-"))
    server = Server(data_dir).start()
    try:
        if not reuse:
            print(f"loading {n_events:,} events over HTTP…", flush=True)
            stats = post_all(server.url, list(synthetic.ndjson_batches(n_events, args.batch, args.seed)))
            wait_correlated(server.url, stats.accepted)
            if args.data_dir is not None:
                (data_dir / META).write_text(json.dumps({"events": n_events, "seed": args.seed}))
        api = TimedApi(Connection(server.url))
        journeys = data.filter_options(api).journeys
        for _ in range(3):  # warm-up
            executive(api)
            operations(api)
        api.times.clear()
        health: list[float] = []
        pages: dict[str, list[float]] = {"executive": [], "operations": []}
        print(f"timing {args.rounds} rounds of each page's requests over {journeys:,} journeys…", flush=True)
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            api.get("/healthz")
            health.append(time.perf_counter() - t0)
            for name, page in (("executive", executive), ("operations", operations)):
                t0 = time.perf_counter()
                page(api)
                pages[name].append(time.perf_counter() - t0)
        requests = {name: ms(values) for name, values in sorted(api.times.items())}
        t0 = time.perf_counter()
        summary = data.summary(api, "stage,warehouse", status="all")
        summary_seconds = time.perf_counter() - t0
        print("paging every journey to count them in the client (the baseline)…", flush=True)
        paged_seconds, paged_pages, counted = page_all_journeys(server.url)
        api.close()
    finally:
        server.stop()
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)

    assert sum(counted.values()) == sum(i["count"] for i in summary), "the summary counts what paging counts"
    figures = {name: ms(values) for name, values in pages.items()}
    base = ms(health)
    result: dict[str, Any] = {
        "benchmark": "dashboard",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {"events": n_events, "journeys": journeys, "rounds": args.rounds, "reused_data_dir": reuse},
        "healthz": base,
        **figures,
        "ratios_vs_healthz": {
            name: {"p50": round(f["p50_ms"] / base["p50_ms"], 1), "p99": round(f["p99_ms"] / base["p99_ms"], 1)}
            for name, f in figures.items()
        },
        "requests": requests,
        "summary_all_seconds": round(summary_seconds, 4),
        "paging_all_seconds": round(paged_seconds, 3),
        "paging_all_pages": paged_pages,
        "paging_over_summary": round(paged_seconds / summary_seconds, 1),
    }
    path = write_result("dashboard", result)
    rows = [("page data", "p50 ms", "p99 ms", "p50 / healthz", "p99 / healthz")]
    rows.append(("GET /healthz (baseline)", f"{base['p50_ms']:.2f}", f"{base['p99_ms']:.2f}", "1", "1"))
    for name, f in figures.items():
        r = result["ratios_vs_healthz"][name]
        rows.append((name, f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}", f"{r['p50']}", f"{r['p99']}"))
    rows.append(("", "", "", "", ""))
    for name, f in requests.items():
        rows.append((f"  GET {name}", f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}", "", ""))
    print()
    print(table(rows))
    print(
        f"\nstage × warehouse counts of {journeys:,} journeys: summary {summary_seconds * 1000:.1f} ms; "
        f"paging all ({paged_pages} pages) {paged_seconds:.2f} s: {result['paging_over_summary']}× the summary"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
