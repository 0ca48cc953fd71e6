"""Span ingest: spans/s through `POST /v1/traces`, against inserting the same rows directly.

    python -m bench.traces [--spans 200000] [--batch 512] [--clients 4] [--seed 1]

1. Spans are made by opentelemetry-sdk (seeded ids, simulated times: the same spans for a seed) and
   encoded as the OTLP exporter encodes them, `--batch` spans per request (512: the
   BatchSpanProcessor's default export batch), before any clock starts. Each is a distributor's
   sync step: a CONSUMER span per order message with CLIENT calls beneath it (HTTP to the ERP, WMS
   or carrier; some retried, with an exception event), typed attributes, the order id.
2. Baseline, in a separate process (chDB: one process per data dir): the very same request bodies
   decoded into `otel_traces`, `otel_traces_trace_id_ts` and `span_links` rows beforehand (outside the timing), then
   `Store.insert_arrow` of those rows, `--baseline-rows` (20,000) per insert, timed. It is the storage floor:
   the ratio is the share of raw insert speed the server keeps after HTTP, gzip, protobuf decoding,
   row building and group commit. It runs before and after the server; their spread shows the noise.
3. A `tower serve` subprocess on a fresh data dir; `--clients` connections post the bodies
   (protobuf, gzip — what the Python exporter sends with compression on), then the same spans
   again as OTLP/JSON (uncompressed, into a second tenant). spans/s = spans / (first POST → last 200).
4. In process, no store: decoding + row building alone, per encoding, to show where the time goes.

Prints a table and writes `bench/results/traces.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from bench.common import REPO, Server, machine, metrics, percentile, proc_status, table, write_result
from tower.telemetry import SeededIdGenerator, configure_tracing, nanos

SYSTEMS = (
    ("erp", "POST", "erp.acme.example"),
    ("wms", "PUT", "wms.dc-east.example"),
    ("carrier", "GET", "ups.example"),
)


def make_spans(n_spans: int, seed: int) -> list[Any]:
    """`n_spans` finished SDK spans: per order a CONSUMER step and 2-4 CLIENT calls beneath it."""
    memory = InMemorySpanExporter()
    provider = configure_tracing(
        "wms-sync",
        exporter=memory,
        id_generator=SeededIdGenerator(seed),
        resource_attributes={"service.instance.id": f"bench-{seed}", "deployment.environment": "bench"},
        set_global=False,
    )
    assert provider is not None
    tracer = provider.get_tracer("control-tower.bench", "1.0")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    made = order = 0
    while made < n_spans:
        order += 1
        at += timedelta(seconds=7)
        step = tracer.start_span(
            "sync.order",
            kind=SpanKind.CONSUMER,
            start_time=nanos(at),
            attributes={"order.id": f"SO-{order}", "messaging.system": "kafka", "messaging.batch.message_count": 1},
        )
        made += 1
        context = set_span_in_context(step)
        for call in range(min(2 + order % 3, n_spans - made)):
            system, method, host = SYSTEMS[call % 3]
            started = at + timedelta(milliseconds=20 + 90 * call)
            span = tracer.start_span(
                f"{method} {system}",
                context=context,
                kind=SpanKind.CLIENT,
                start_time=nanos(started),
                attributes={
                    "http.request.method": method,
                    "server.address": host,
                    "url.full": f"https://{host}/api/orders/SO-{order}",
                    "http.response.status_code": 503 if call == 1 and order % 5 == 0 else 200,
                    "http.request.resend_count": call,
                    "tower.latency_ratio": 0.5 + call / 4,
                    "retry": call > 0,
                },
            )
            if call == 1 and order % 5 == 0:
                span.add_event("exception", {"exception.type": "HTTPError", "exception.message": "503"}, nanos(started))
                span.set_status(Status(StatusCode.ERROR, "503 Service Unavailable"))
            span.end(end_time=nanos(started + timedelta(milliseconds=80)))
            made += 1
        step.end(end_time=nanos(at + timedelta(milliseconds=400)))
        if order % 200 == 0:
            provider.force_flush()  # the batch processor drops what overflows its queue, by design
    provider.force_flush()
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans[:n_spans]


def hex_ids(node: Any) -> Any:
    """The protobuf JSON mapping's base64 ids as OTLP/JSON's hex ids."""
    if isinstance(node, dict):
        return {
            k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [hex_ids(v) for v in node]
    return node


def make_bodies(spans: list[Any], batch: int) -> tuple[list[bytes], list[bytes]]:
    """(protobuf bodies, OTLP/JSON bodies) of `batch` spans each."""
    protobuf, as_json = [], []
    for start in range(0, len(spans), batch):
        message = encode_spans(spans[start : start + batch])
        protobuf.append(message.SerializeToString())
        as_json.append(orjson.dumps(hex_ids(json_format.MessageToDict(message))))
    return protobuf, as_json


def baseline_child(bodies_path: Path, chunk: int) -> dict[str, Any]:
    """In this (child) process only: the bodies' rows built untimed, then inserted straight into a fresh store,
    `chunk` rows per insert (the group commit's best case: one request's 512 rows alone pay an insert's
    fixed cost, which is what the server's group commit avoids)."""
    import pyarrow as pa
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from collector.app import MIGRATIONS
    from collector.otlp.spans import span_rows
    from tower.settings import load_settings
    from tower.store import Store

    bodies: list[bytes] = pickle.loads(bodies_path.read_bytes())
    identifiers = load_settings().span_identifiers
    built = time.perf_counter()
    rows = [span_rows(ExportTraceServiceRequest.FromString(b), "", identifiers) for b in bodies]
    per_insert = max(1, chunk // max(1, rows[0].accepted))
    tables = [
        (
            pa.concat_tables([r.spans for r in rows[i : i + per_insert]]),
            pa.concat_tables([r.ranges for r in rows[i : i + per_insert]]),
            pa.concat_tables([r.links for r in rows[i : i + per_insert]]),
        )
        for i in range(0, len(rows), per_insert)
    ]
    build_seconds = time.perf_counter() - built
    data_dir = Path(tempfile.mkdtemp(prefix="tower-bench-traces-baseline-"))
    try:
        store = Store(f"chdb://{data_dir / 'clickhouse'}")
        store.migrate(MIGRATIONS)
        started = time.perf_counter()
        for spans_table, ranges_table, links_table in tables:
            store.insert_arrow("otel_traces", spans_table)
            store.insert_arrow("spans_by_trace", spans_table)
            store.insert_arrow("otel_traces_trace_id_ts", ranges_table)
            store.insert_arrow("span_links", links_table)
        seconds = time.perf_counter() - started
        stored = int(store.query("SELECT count() FROM {db}.otel_traces")[0][0])
        store.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    spans = sum(r.accepted for r in rows)
    return {
        "spans": spans,
        "stored": stored,
        "inserts": len(tables),
        "rows_per_insert": per_insert * rows[0].accepted,
        "insert_seconds": round(seconds, 3),
        "spans_per_s": round(spans / seconds, 1),
        "build_seconds_untimed": round(build_seconds, 3),
    }


def run_baseline(bodies: list[bytes], chunk: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bodies.pickle"
        path.write_bytes(pickle.dumps(bodies))
        out = Path(tmp) / "out.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.traces",
                "--baseline-child",
                str(path),
                "--baseline-rows",
                str(chunk),
                "--child-out",
                str(out),
            ],
            cwd=REPO,
            check=True,
        )
        return json.loads(out.read_text())


async def _post(url: str, bodies: list[bytes], headers: dict[str, str], clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    retries = rejected = 0
    pending = iter(range(len(bodies)))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal retries, rejected
        for i in pending:
            while True:
                sent = time.perf_counter()
                response = await client.post("/v1/traces", content=bodies[i], headers=headers)
                if response.status_code in (429, 503):
                    retries += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"POST /v1/traces answered {response.status_code}: {response.text[:300]}")
                latencies.append(time.perf_counter() - sent)
                if response.headers["content-type"].startswith("application/json"):
                    rejected += int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0))
                break

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "latencies": latencies, "retries": retries, "rejected": rejected}


def post(url: str, bodies: list[bytes], headers: dict[str, str], clients: int, spans: int) -> dict[str, Any]:
    result = asyncio.run(_post(url, bodies, headers, clients))
    return {
        "spans": spans,
        "requests": len(bodies),
        "seconds": round(result["seconds"], 3),
        "spans_per_s": round(spans / result["seconds"], 1),
        "post_latency_p50_ms": round(percentile(result["latencies"], 50) * 1000, 1),
        "post_latency_p99_ms": round(percentile(result["latencies"], 99) * 1000, 1),
        "retries": result["retries"],
        "rejected": result["rejected"],
    }


def in_process(protobuf: list[bytes], as_json: list[bytes], spans: int) -> dict[str, float]:
    """Decode + rows without HTTP or store, per encoding: where the server's CPU goes."""
    from collector.api.traces import decode_spans
    from collector.otlp.decode import JSON, PROTOBUF
    from tower.settings import load_settings

    identifiers = load_settings().span_identifiers
    out = {}
    for name, bodies, encoding in (("protobuf", protobuf, PROTOBUF), ("json", as_json, JSON)):
        started = time.perf_counter()
        for body in bodies:
            decode_spans(body, encoding, "", identifiers)
        out[f"{name}_spans_per_s"] = round(spans / (time.perf_counter() - started), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512, help="spans per request (and per baseline insert)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="spans per baseline insert")
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.baseline_child:
        args.child_out.write_text(json.dumps(baseline_child(args.baseline_child, args.baseline_rows)))
        return

    print(f"making {args.spans:,} spans with the SDK and encoding them, {args.batch} per request…", flush=True)
    made = time.perf_counter()
    spans = make_spans(args.spans, args.seed)
    protobuf, as_json = make_bodies(spans, args.batch)
    gzipped = [gzip.compress(b, compresslevel=6) for b in protobuf]
    make_seconds = time.perf_counter() - made
    n = len(spans)

    baselines = []
    print("baseline (before): insert_arrow of the same rows, separate process…", flush=True)
    baselines.append({"when": "before", **run_baseline(protobuf, args.baseline_rows)})

    data_dir = Path(tempfile.mkdtemp(prefix="tower-bench-traces-"))
    server = Server(data_dir).start()
    try:
        print(f"posting protobuf+gzip with {args.clients} clients to {server.url}…", flush=True)
        pb = post(
            server.url,
            gzipped,
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "X-Tower-Tenant": "bench-pb"},
            args.clients,
            n,
        )
        print("posting OTLP/JSON…", flush=True)
        js = post(
            server.url, as_json, {"Content-Type": "application/json", "X-Tower-Tenant": "bench-json"}, args.clients, n
        )
        counters = metrics(server.url)
        stored = {
            tenant: httpx.get(
                f"{server.url}/v1/traces", params={"limit": 1}, headers={"X-Tower-Tenant": tenant}
            ).json()["spans"]
            for tenant in ("bench-pb", "bench-json")
        }
        status = proc_status(server.pid)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if stored != {"bench-pb": n, "bench-json": n} or pb["rejected"] or js["rejected"]:
        raise RuntimeError(f"expected {n} spans stored per tenant, found {stored}")

    print("baseline (after)…", flush=True)
    baselines.append({"when": "after", **run_baseline(protobuf, args.baseline_rows)})
    print("decode + rows in process…", flush=True)
    processing = in_process(protobuf, as_json, n)

    base_seconds = sum(b["insert_seconds"] for b in baselines)
    base = round(sum(b["spans"] for b in baselines) / base_seconds, 1)
    result: dict[str, Any] = {
        "benchmark": "traces",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": {
            "spans": n,
            "batch": args.batch,
            "clients": args.clients,
            "seed": args.seed,
            "baseline_rows_per_insert": args.baseline_rows,
            "protobuf_bytes": sum(len(b) for b in protobuf),
            "gzip_bytes": sum(len(b) for b in gzipped),
            "json_bytes": sum(len(b) for b in as_json),
            "make_seconds_untimed": round(make_seconds, 2),
        },
        "server": {"protobuf_gzip": pb, "json": js},
        "server_side": {
            "telemetry_batches": int(counters.get("tower_telemetry_batches_total", 0)),
            "telemetry_write_seconds": round(counters.get("tower_telemetry_write_seconds_total", 0), 3),
            "peak_rss_bytes": status.get("VmHWM"),
            "cpu_seconds": status.get("cpu_seconds"),
        },
        "in_process": processing,
        "baseline": {"spans_per_s": base, "runs": baselines},
        "ratios": {
            "protobuf_gzip_vs_insert_arrow": round(pb["spans_per_s"] / base, 4),
            "json_vs_insert_arrow": round(js["spans_per_s"] / base, 4),
            "decode_protobuf_vs_insert_arrow": round(processing["protobuf_spans_per_s"] / base, 4),
            "decode_json_vs_insert_arrow": round(processing["json_spans_per_s"] / base, 4),
        },
    }
    path = write_result("traces", result)

    rows = [("measure", "spans/s", "vs baseline")]
    rows.append(("baseline insert_arrow (rows)", f"{base:,.0f}", "1.000"))
    for b in baselines:
        rows.append((f"  run {b['when']} the server", f"{b['spans_per_s']:,.0f}", f"{b['spans_per_s'] / base:.3f}"))
    for label, rate in (
        ("POST /v1/traces protobuf+gzip", pb["spans_per_s"]),
        ("POST /v1/traces OTLP/JSON", js["spans_per_s"]),
        ("decode+rows protobuf (in process)", processing["protobuf_spans_per_s"]),
        ("decode+rows JSON (in process)", processing["json_spans_per_s"]),
    ):
        rows.append((label, f"{rate:,.0f}", f"{rate / base:.3f}"))
    print()
    print(table(rows))
    print(
        f"\nPOST latency protobuf p50 {pb['post_latency_p50_ms']} ms p99 {pb['post_latency_p99_ms']} ms; "
        f"JSON p50 {js['post_latency_p50_ms']} ms p99 {js['post_latency_p99_ms']} ms; "
        f"{result['server_side']['telemetry_batches']} group commits; retries {pb['retries'] + js['retries']}"
    )
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
