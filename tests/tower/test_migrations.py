"""Migrations: unique numbers, idempotent DDL, applied once."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.app import MIGRATIONS
from tower.store import Migration, Store, check_migrations


def test_no_two_migrations_share_a_number() -> None:
    numbers = [m.number for m in MIGRATIONS]
    assert len(numbers) == len(set(numbers)), sorted(numbers)
    check_migrations(MIGRATIONS)


def test_duplicate_numbers_are_refused_with_both_names() -> None:
    with pytest.raises(ValueError, match="'a' and 'b' share number 7"):
        check_migrations([Migration(7, "a", ()), Migration(7, "b", ())])


def test_every_statement_is_idempotent() -> None:
    for migration in MIGRATIONS:
        if migration.sql and migration.sql[0].startswith("DROP TABLE IF EXISTS") and "_repartition" in migration.sql[0]:
            # tower.retention.repartitioned: idempotent as a whole, each run from a fresh copy
            # (tests/hardening/test_retention.py runs it twice on a table with rows)
            assert migration.sql[-1] == migration.sql[0], migration.number
            continue
        for statement in migration.sql:
            head = " ".join(statement.split())[:80].upper()
            if head.startswith("ALTER TABLE") and " MODIFY SETTING " in head:
                continue  # setting a value twice leaves it set
            if head.startswith("INSERT INTO"):
                # a copy into a table this migration creates as a ReplacingMergeTree: copied twice,
                # the rows collapse (`spans_by_trace`)
                target = head.split()[2].lower()
                create = next(s for s in migration.sql if f"CREATE TABLE IF NOT EXISTS {target} (" in s)
                assert "ENGINE = ReplacingMergeTree" in create, (migration.number, head)
                continue
            assert "IF NOT EXISTS" in head or "IF EXISTS" in head, (migration.number, head)


def test_every_table_says_why_its_order_by_is_what_it_is() -> None:
    import collector.otlp.schema
    import collector.schema
    import correlator.schema

    for module in (collector.schema, collector.otlp.schema, correlator.schema):
        source = Path(module.__file__ or "").read_text()
        tables = source.count("CREATE TABLE")
        assert source.count("# ORDER BY") >= tables - 1, module.__name__  # one comment may cover a pair


def test_migrate_applies_each_once_on_chdb(tmp_path: Path) -> None:
    # chDB hosts one engine path per process: run the store in a child so this process stays free.
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "from tower.store import Store; from collector.app import MIGRATIONS; "
        f"s = Store('chdb://{tmp_path}/ch'); first = s.migrate(MIGRATIONS); second = s.migrate(MIGRATIONS); "
        "tables = sorted(r[0] for r in s.query('SHOW TABLES FROM tower')); print(first, second, tables)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    first, second, tables = out.strip().split("] ", 2)
    assert first.strip("[") == ", ".join(str(m.number) for m in sorted(MIGRATIONS, key=lambda m: m.number))
    assert second == "["
    for table in (
        "events",
        "dead_letters",
        "objects",
        "identifiers",
        "relations",
        "journey_events",
        "journeys",
        "merges",
        "correlator_checkpoint",
        "schema_migrations",
    ):
        assert f"'{table}'" in tables
    _ = Store  # the same class the server uses


def test_tables_read_by_key_get_small_compressed_blocks_fresh_and_on_an_older_store(tmp_path: Path) -> None:
    # A fresh store gets them from the DDL (through the re-partitioning copies); a store whose tables
    # were made before (same DDL without them) gets them from migrations 51 and 152.
    import subprocess
    import sys

    from tests.conftest import REPO

    code = f"""
from collector.app import MIGRATIONS
from tower.store import POINT_READ_BLOCKS, Store
tables = ("events", "objects", "identifiers", "journeys", "journey_events")
fresh = Store('chdb://{tmp_path}/ch', database="fresh")  # one engine per process: two databases in it
fresh.migrate(MIGRATIONS)
older = Store('chdb://{tmp_path}/ch', database="older")
older.command("CREATE DATABASE IF NOT EXISTS older")
for m in sorted(MIGRATIONS, key=lambda m: m.number):
    for sql in m.sql:
        if m.number < 50 or 100 < m.number < 150:
            older.command(sql.replace(", " + POINT_READ_BLOCKS, "").replace("{{db}}", "older"))
before = [POINT_READ_BLOCKS in older.query("SHOW CREATE TABLE older." + t)[0][0] for t in tables]
older.migrate(tuple(m for m in MIGRATIONS if m.number in (51, 152, 156)))
for store in (fresh, older):
    print([POINT_READ_BLOCKS in store.query(f"SHOW CREATE TABLE {{store.database}}.{{t}}")[0][0] for t in tables])
print(before)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    fresh, migrated, before = out.stdout.strip().splitlines()[-3:]
    assert fresh == migrated == "[True, True, True, True, True]"
    assert before == "[False, False, False, False, False]"


def test_tower_migrate_says_which_added_columns_older_parts_compute_and_materializes_them(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    older = Store(f"chdb://{tmp_path / 'clickhouse'}")  # the layout `--data-dir` gives
    try:
        older.migrate([m for m in MIGRATIONS if m.number != 50])  # a store from before the columns
        older.insert_rows(
            "events",
            [["acme", "erp/netsuite", "e-1", 1, "order.received", 0, 0, "", 1, '{"data":{"facts":{"system":"erp"}}}']],
            ["tenant", "source", "id", "seq", "type", "time", "ingested_at", "traceparent", "key_hash", "payload"],
            role="writer",
        )
    finally:
        older.close()

    def migrate(*flags: str) -> str:
        command = [sys.executable, "-m", "tower.cli", "migrate", "--data-dir", str(tmp_path), *flags]
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout

    columns = "events.carrier, events.operation, events.system"
    first = migrate()
    assert "applied 1 migration(s): 0050" in first
    assert f"3 column(s) are computed on every read of older parts ({columns})" in first
    assert f"materialized 3 column(s): {columns}" in migrate("--materialize")
    again = migrate("--materialize")
    assert "applied 0 migration(s): none needed" in again and "materialized 0 column(s): none needed" in again


def test_spans_stored_before_spans_by_trace_existed_are_copied_into_it_once(tmp_path: Path) -> None:
    # A store made before migration 13 holds spans in `otel_traces` only (one sent twice by its
    # exporter). Migrating copies them; the journey page's read (`trace_spans`) finds each once, also
    # after the copy ran a second time (a crash before the migration was recorded).
    import subprocess
    import sys

    from tests.conftest import REPO

    code = f"""
from collector.app import MIGRATIONS
from collector.otlp.spans import span_rows
from correlator.spans import trace_spans
from tests.support.spans import TRACE as trace, two_spans
from tower.store import Store
rows = span_rows(two_spans(trace), "acme", {{}})
store = Store('chdb://{tmp_path}/ch')
store.migrate(tuple(m for m in MIGRATIONS if m.number != 13))
store.insert_arrow("otel_traces", rows.spans)
store.insert_arrow("otel_traces", rows.spans)
print(store.migrate(MIGRATIONS))
print([s["name"] for s in trace_spans(store, "acme", [trace.upper()])])
copy = next(m for m in MIGRATIONS if m.number == 13).sql[-1]
store.command(copy)
print([s["name"] for s in trace_spans(store, "acme", [trace])], trace_spans(store, "other", [trace]))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    applied, after, again = out.stdout.strip().splitlines()[-3:]
    assert applied == "[13]"
    assert after == "['sync.order', 'erp.post']"
    assert again == "['sync.order', 'erp.post'] []"
