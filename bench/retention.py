"""What month partitions cost the event log, and what the re-partitioning migration costs.

    python -m bench.retention [--events 500000] [--batch 20000]

In one process, on a fresh chDB store in a temporary directory:

- insert: the same batches of `events` rows (`insert_arrow`, the writer's call) into the table as
  migration 1 makes it (no partition key) and into the copy migration 41 makes (by month of event
  time), alternating batch by batch so the machine's load falls on both alike; the ratio
  partitioned / unpartitioned is the figure (event times span 30 days across a month boundary,
  so some batches split into two parts);
- migrate: the time `repartitioned` takes to move `--events` rows (copy, EXCHANGE TABLES), and
  its rate;
- plan: one `Retention.plan` over the result (TTL 1 day, clock a year on).

Prints a table and writes `bench/results/retention.json`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta

import clickhouse_connect
import pyarrow as pa

from bench.common import RESULTS
from collector.app import MIGRATIONS
from tower.retention import Retention, repartitioned
from tower.store import Store


def batch(start: int, size: int, total: int) -> pa.Table:
    first = datetime(2026, 1, 17, tzinfo=UTC)
    seqs = list(range(start, start + size))
    return pa.table(
        {
            "tenant": ["acme"] * size,
            "source": [f"erp/{s % 7}" for s in seqs],
            "id": [f"e-{s}" for s in seqs],
            "seq": pa.array(seqs, pa.uint64()),
            "type": ["order.received"] * size,
            "time": pa.array(
                [first + timedelta(seconds=s * 30 * 86_400 // total) for s in seqs], pa.timestamp("us", "UTC")
            ),
            "ingested_at": pa.array([first] * size, pa.timestamp("us", "UTC")),
            "traceparent": [""] * size,
            "key_hash": pa.array([s * 2654435761 % 2**63 for s in seqs], pa.uint64()),
            "payload": ['{"specversion":"1.0","data":{"objects":[{"type":"order","ids":{"erp":"SO-1"}}]}}'] * size,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as path:
        client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        client.command("CREATE DATABASE IF NOT EXISTS tower ENGINE = Atomic")
        ddl = next(sql for m in MIGRATIONS if m.number == 1 for sql in m.sql)
        client.command(ddl.replace("{db}", "tower"))
        copy = repartitioned(ddl, "events", "toYYYYMM(time)")[1]
        client.command(copy.replace("{db}", "tower").replace("events_repartition", "events_by_month"))
        seconds = {"tower.events": 0.0, "tower.events_by_month": 0.0}
        for start in range(0, args.events, args.batch):
            data = batch(start, min(args.batch, args.events - start), args.events)
            for table in seconds:
                began = time.perf_counter()
                client.insert_arrow(table, data)
                seconds[table] += time.perf_counter() - began
        client.command("DROP TABLE tower.events_by_month")
        began = time.perf_counter()
        for statement in repartitioned(ddl, "events", "toYYYYMM(time)"):
            client.command(statement.replace("{db}", "tower"))
        migrate = time.perf_counter() - began
        months = client.query(
            "SELECT count(DISTINCT partition_id) FROM system.parts "
            "WHERE database = 'tower' AND table = 'events' AND active"
        ).result_rows[0][0]
        client.close()
        store = Store(f"chdb://{path}")
        store.migrate([m for m in MIGRATIONS if m.number not in (1, 41)])  # the rest of the schema, empty
        store.insert_rows(
            "correlator_checkpoint", [["bench", args.events, datetime.now(UTC)]], ["name", "seq", "at"], "admin"
        )
        began = time.perf_counter()
        drops, kept = Retention(store, {"events": 1}).plan(datetime(2027, 1, 1, tzinfo=UTC))
        plan = time.perf_counter() - began
        store.close()
    ratio = seconds["tower.events_by_month"] / seconds["tower.events"]
    result = {
        "events": args.events,
        "batch": args.batch,
        "insert_unpartitioned_s": round(seconds["tower.events"], 3),
        "insert_by_month_s": round(seconds["tower.events_by_month"], 3),
        "insert_ratio_by_month_over_unpartitioned": round(ratio, 3),
        "migrate_s": round(migrate, 3),
        "migrate_events_per_s": round(args.events / migrate),
        "months": months,
        "plan_s": round(plan, 3),
        "plan_drops": len(drops),
        "plan_kept": len(kept),
    }
    for k, v in result.items():
        print(f"{k:45} {v}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retention.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
