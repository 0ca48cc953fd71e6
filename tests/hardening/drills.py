"""What the fault drills share: a client streaming events as a careful one would, a /readyz
watcher, and counts read from the store by a separate process once the server is gone.

The client sends batches of new orders and, on `429` or `503`, sends the same batch again after
`Retry-After` (what the answer asks for); a batch counts as acknowledged when a `202` came back,
and each event's key is remembered with the instant of its acknowledgement.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import REPO

SOURCE = "shopify/drill"


def order_event(n: int, tenant: str = "") -> dict[str, object]:
    event: dict[str, object] = {
        "specversion": "1.0",
        "id": f"evt-{n}",
        "source": SOURCE,
        "type": "order.received",
        "time": f"2026-11-20T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "data": {"objects": [{"type": "order", "ids": {SOURCE: f"#{n}"}}]},
    }
    if tenant:
        event["tenant"] = tenant
    return event


@dataclass
class Answer:
    at: float  # monotonic
    status: int
    seconds: float
    code: str = ""
    message: str = ""
    retry_after: str | None = None


@dataclass
class Stream:
    """A thread posting `batch` new orders at a time, retrying refused batches after Retry-After."""

    url: str
    batch: int = 200
    pause: float = 0.02
    timeout: float = 30.0
    acked: dict[int, float] = field(default_factory=dict)  # event number → when its 202 came
    answers: list[Answer] = field(default_factory=list)
    sent_upto: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 120) -> None:
        """Stop after the batch in hand is acknowledged (or `timeout` passes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the stream did not finish its last batch"

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int]:
        return Counter(a.status for a in self.answers if since <= a.at <= until)

    def _run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            while not self._stop.is_set():
                numbers = list(range(n, n + self.batch))
                n += self.batch
                self.sent_upto = n
                body = b"\n".join(orjson.dumps(order_event(i)) for i in numbers)
                while True:  # the same batch until it is acknowledged
                    started = time.monotonic()
                    try:
                        r = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
                    except httpx.HTTPError as exc:
                        self.answers.append(Answer(started, 0, time.monotonic() - started, type(exc).__name__))
                        time.sleep(0.5)
                        continue
                    now = time.monotonic()
                    error = r.json().get("error", {}) if r.status_code != 202 else {}
                    self.answers.append(
                        Answer(
                            started,
                            r.status_code,
                            now - started,
                            error.get("code", ""),
                            error.get("message", ""),
                            r.headers.get("Retry-After"),
                        )
                    )
                    if r.status_code == 202:
                        for i in numbers:
                            self.acked[i] = now
                        break
                    assert r.status_code in (429, 503), f"{r.status_code}: {r.text[:500]}"
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                time.sleep(self.pause)


@dataclass
class Readiness:
    """Polls /readyz every `interval` s: (when, status, the failure it named) for the whole drill."""

    url: str
    interval: float = 0.25
    samples: list[tuple[float, int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Readiness:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                at = time.monotonic()
                try:
                    r = client.get("/readyz")
                    checks = r.json().get("checks", {})
                    failure = str(
                        checks.get("writer", {}).get("failure")
                        or checks.get("kafka_writer", {}).get("failure")
                        or checks.get("store", "")
                    )
                    self.samples.append((at, r.status_code, failure if r.status_code != 200 else ""))
                except httpx.HTTPError as exc:
                    self.samples.append((at, 0, type(exc).__name__))
                time.sleep(self.interval)

    def between(self, since: float, until: float) -> list[tuple[float, int, str]]:
        return [s for s in self.samples if since <= s[0] <= until]


def stored_keys(data_dir: Path, tenant: str = "", store_dir: Path | None = None) -> tuple[Counter[int], int]:
    """How many times each drill event is stored, and the journeys alive, read by a separate process."""
    code = (
        "import sys; from tower.store import Store; "
        f"s = Store('chdb://{store_dir or data_dir / 'clickhouse'}'); "
        "rows = s.query('SELECT id, count() FROM {db}.events WHERE tenant = {t:String} AND source = {s:String} "
        "GROUP BY id', {'t': sys.argv[1], 's': sys.argv[2]}); "
        "j = s.query('SELECT count() FROM {db}.journeys FINAL WHERE alive = 1 AND tenant = {t:String}', "
        "{'t': sys.argv[1]})[0][0]; "
        "print(j); print('\\n'.join(f'{i} {n}' for i, n in rows))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, tenant, SOURCE], cwd=REPO, capture_output=True, text=True, check=True
    )
    lines = out.stdout.split("\n")
    journeys = int(lines[0])
    counts: Counter[int] = Counter()
    for line in lines[1:]:
        if line.strip():
            event_id, n = line.split()
            counts[int(event_id.removeprefix("evt-"))] = int(n)
    return counts, journeys


def figures(name: str, stream: Stream, ready: Readiness, broke: float, repaired: float) -> dict[str, Any]:
    """What a drill measured, printed (`pytest -s`) for docs/reliability/faults.md."""
    during = [a for a in stream.answers if broke <= a.at <= repaired]
    refused = [a for a in during if a.status in (429, 503)]
    first_202_after = min(
        (a.at + a.seconds for a in stream.answers if a.at >= repaired and a.status == 202), default=None
    )
    not_ready = [at for at, status, _ in ready.samples if status != 200 and at >= broke]
    ready_again = min((at for at, status, _ in ready.samples if status == 200 and at >= repaired), default=None)
    out = {
        "drill": name,
        "acknowledged": len(stream.acked),
        "answers_while_broken": dict(Counter(a.status for a in during)),
        "slowest_answer_while_broken_s": round(max((a.seconds for a in during), default=0.0), 2),
        "first_refusal_after_s": round(min(a.at + a.seconds for a in refused) - broke, 2) if refused else None,
        "readyz_not_ready_after_s": round(min(not_ready) - broke, 2) if not_ready else None,
        "readyz_ready_again_after_repair_s": round(ready_again - repaired, 2) if ready_again else None,
        "first_202_after_repair_s": round(first_202_after - repaired, 2) if first_202_after else None,
    }
    print(f"\nDRILL {out}")
    return out
