"""`tower import` streams NDJSON and JSON-array files (gzip or not) to a running server."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.conftest import REPO, ServerProcess, correlated, wait_for


def events(prefix: str, n: int) -> list[dict[str, object]]:
    return [
        {
            "specversion": "1.0",
            "id": f"{prefix}-{i}",
            "source": "edi/acme",
            "type": "order.received",
            "time": "2026-11-20T10:00:00Z",
            "tenant": prefix,
            "data": {
                "objects": [{"type": "order", "ids": {"po:acme": f"{prefix}-PO-{i}"}}],
                "facts": {"note": 'a string with ] and , and " inside'},
            },
        }
        for i in range(n)
    ]


def run_import(server: ServerProcess, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tower.cli", "import", *map(str, files), "--url", server.url, "--batch", "300"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_ndjson_and_json_array_files(server: ServerProcess, tmp_path: Path) -> None:
    nd = tmp_path / "a.ndjson"
    nd.write_bytes(b"\n".join(orjson.dumps(e) for e in events("imp-nd", 1_000)) + b"\n")
    arr = tmp_path / "b.json.gz"
    with gzip.open(arr, "wb") as f:
        f.write(orjson.dumps(events("imp-arr", 700), option=orjson.OPT_INDENT_2))
    result = run_import(server, nd, arr)
    assert result.returncode == 0, result.stderr
    assert "accepted 1700, duplicates 0, rejected 0" in result.stdout
    again = run_import(server, nd)
    assert "accepted 0, duplicates 1000, rejected 0" in again.stdout
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": "imp-arr"}) as c:
        wait_for(lambda: correlated(c))
        assert c.get("/v1/journeys", params={"limit": 1}).json()["total"] == 700


def test_import_reports_rejected_events_and_fails(server: ServerProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    good = events("imp-bad", 2)
    bad.write_bytes(orjson.dumps(good[0]) + b'\n{"specversion": "1.0"}\n' + orjson.dumps(good[1]) + b"\n")
    result = run_import(server, bad)
    assert result.returncode == 1
    assert "accepted 2, duplicates 0, rejected 1" in result.stdout


def test_import_says_when_no_server_runs(tmp_path: Path) -> None:
    f = tmp_path / "one.ndjson"
    f.write_bytes(orjson.dumps(events("x", 1)[0]))
    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "import", str(f), "--url", "http://127.0.0.1:9"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is `tower serve` running?" in result.stderr


def test_import_native_files_through_an_adapter(server: ServerProcess) -> None:
    from tests.support.ocel import FIXTURES

    files = [
        FIXTURES / "edi_x12/node-x12/850.edi",
        FIXTURES / "edi_x12/oopfactory-x12parser/210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt",
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tower.cli",
            "import",
            *map(str, files),
            "--adapter",
            "x12",
            "--url",
            server.url,
            "--tenant",
            "imp-x12",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1  # the 210 sample has mismatched group control numbers
    assert "850.edi: 1 events, accepted 1, duplicates 0, rejected 0" in result.stdout
    assert "210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt: 400" in result.stderr
    assert "GE02" in result.stderr


def test_export_journeys_as_an_ocel_log_that_reads_back(server: ServerProcess, tmp_path: Path) -> None:
    from adapters.ocel import parse as parse_ocel

    tenant = "export-ocel"
    with httpx.Client(base_url=server.url, headers={"X-Tower-Tenant": tenant}) as c:
        body = b"\n".join(orjson.dumps({k: v for k, v in e.items() if k != "tenant"}) for e in events("exp", 3))
        assert c.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"}).status_code == 202
        wait_for(lambda: correlated(c))
    out = tmp_path / "log.json"
    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "export", str(out), "--url", server.url, "--tenant", tenant],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "exported 3 journeys" in result.stderr
    log = orjson.loads(out.read_bytes())
    assert sorted(e["id"] for e in log["events"]) == ["exp-0", "exp-1", "exp-2"]
    back = parse_ocel(out.read_bytes(), {}, {})
    assert sorted(e["type"] for e in back.events) == ["order.received"] * 3
