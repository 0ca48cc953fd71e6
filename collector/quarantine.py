"""Dead letters: rejected input with its raw bytes and the reason, where an operator can see it."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

import orjson

from tower.clock import Clock, SystemClock
from tower.store import Store

KEPT_HEADERS_EXCLUDED = frozenset({"authorization", "cookie", "proxy-authorization"})
MAX_RAW_BYTES = 1024 * 1024

COLUMNS = [
    "tenant",
    "received_at",
    "id",
    "endpoint",
    "content_type",
    "status",
    "event_index",
    "event_id",
    "field",
    "reason",
    "raw",
    "headers",
]


@dataclass(slots=True)
class DeadLetter:
    tenant: str
    endpoint: str
    content_type: str
    status: int
    index: int  # -1: the request as a whole
    event_id: str
    field: str
    reason: str
    raw: bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # what replaying needs (adapter topic, shop…)


class Quarantine:
    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        # the tower's clock stamps a dead letter, so a simulated month's refusals fall in that month
        self.clock = clock or SystemClock()
        self.count = 0

    def record(self, letters: list[DeadLetter]) -> None:
        """Store dead letters durably. Blocking: call it from a worker thread."""
        if not letters:
            return
        now = self.clock.now()
        rows = []
        for letter in letters:
            raw = letter.raw
            reason = letter.reason
            if len(raw) > MAX_RAW_BYTES:
                raw = raw[:MAX_RAW_BYTES]
                reason += f" (raw bytes truncated to the first {MAX_RAW_BYTES})"
            rows.append(
                [
                    letter.tenant,
                    now,
                    str(uuid.uuid4()),
                    letter.endpoint,
                    letter.content_type,
                    letter.status,
                    letter.index,
                    letter.event_id,
                    letter.field,
                    reason,
                    raw,
                    orjson.dumps(letter.headers).decode(),
                ]
            )
        self.store.insert_rows("dead_letters", rows, COLUMNS, role="quarantine")
        self.count += len(rows)
