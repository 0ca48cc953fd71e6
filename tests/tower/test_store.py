"""`Store.insert_arrow` on embedded chDB: an Arrow stream through a file, every column type the
tables use, insert settings honoured, nothing left behind, errors named."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tower.store import Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"chdb://{tmp_path / 'ch'}")
    store.command("CREATE DATABASE IF NOT EXISTS tower")
    store.command(
        "CREATE TABLE {db}.t (k String, n UInt64, kind LowCardinality(String), at DateTime64(6, 'UTC'), "
        "maybe Nullable(UInt8), tags Array(String), ids Map(String, String), raw String) "
        "ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100"
    )
    return store


def rows(n: int, first: int = 0) -> pa.Table:
    at = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    return pa.table(
        {
            "k": [f"k-{i}" for i in range(first, first + n)],
            "n": pa.array(range(first, first + n), pa.uint64()),
            "kind": ["it's"] * n,
            "at": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
            "maybe": pa.array([None if i % 2 else 1 for i in range(n)], pa.uint8()),
            "tags": [["a", "b'c"]] * n,
            "ids": pa.array([[("erp", f"SO-{i}")] for i in range(n)], pa.map_(pa.string(), pa.string())),
            "raw": pa.array([b"\x00\xff{" for _ in range(n)], pa.binary()),
        }
    )


def test_every_column_type_arrives_as_sent(store: Store) -> None:
    store.insert_arrow("t", rows(1_000))
    got = store.query("SELECT k, n, kind, at, maybe, tags, ids, raw FROM {db}.t ORDER BY n", binary=("raw",))
    assert len(got) == 1_000
    k, n, kind, at, maybe, tags, ids, raw = got[1]
    assert (k, n, kind, maybe, tags, ids, raw) == ("k-1", 1, "it's", None, ["a", "b'c"], {"erp": "SO-1"}, b"\x00\xff{")
    assert at.replace(tzinfo=UTC) == datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    assert got[0][4] == 1


def test_an_insert_deduplication_token_is_honoured(store: Store) -> None:
    for _ in range(2):  # the same token twice: the second insert is dropped as a repeat
        store.insert_arrow("t", rows(10), settings={"insert_deduplication_token": "topic:0:0-9 'quoted'"})
    store.insert_arrow("t", rows(10, 10), settings={"insert_deduplication_token": "topic:0:10-19"})
    assert store.query("SELECT count() FROM {db}.t") == [(20,)]


def test_no_file_is_left_behind_and_a_refused_insert_names_the_table(store: Store) -> None:
    before = set(Path(tempfile.gettempdir()).glob("tower-insert-*"))
    store.insert_arrow("t", rows(5))
    with pytest.raises(StoreError, match="INSERT missing"):
        store.insert_arrow("missing", rows(5))
    assert set(Path(tempfile.gettempdir()).glob("tower-insert-*")) == before
