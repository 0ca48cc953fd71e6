"""The ledger of body-signed webhook deliveries, so a replayed body is refused (409), not re-ingested.

Providers such as Shopify sign the body but no timestamp: a captured delivery stays valid forever.
The ledger (`webhook_deliveries`) records every accepted (adapter, delivery id, body digest); a
body already accepted under another delivery id, or a delivery id already used for another body,
is refused. The same id with the same body is the provider retrying: accepted again (its events
are duplicates).

Checking costs nothing for a new delivery, the common case: where this process is the only one
writing the ledger (the embedded store), it keeps 64-bit fingerprints of the recorded digests and
ids (`KeyIndex`, 16 bytes a delivery) and reads the table only for fingerprint hits. Elsewhere
(several collectors on a ClickHouse server) every check reads the table. New entries go in through
the telemetry group writer, so the deliveries of concurrent requests share one insert.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime

import pyarrow as pa

from collector.otlp.writer import TelemetryWriter
from collector.writer import Backpressure
from tower.api import ApiError, rfc3339
from tower.fingerprints import KeyIndex
from tower.store import Store

log = logging.getLogger(__name__)

Entry = tuple[str, str, str]  # (adapter, delivery id, body digest)
LEDGER_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("adapter", pa.string()),
        ("digest", pa.string()),
        ("delivery", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _hash(kind: str, tenant: str, adapter: str, value: str) -> int:
    digest = hashlib.blake2b(f"{kind}\x1f{tenant}\x1f{adapter}\x1f{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class DeliveryLedger:
    def __init__(self, store: Store, exclusive: bool) -> None:
        self.store = store
        self.exclusive = exclusive  # this process alone writes the ledger: fingerprints decide misses
        self._index = KeyIndex()
        self.reads = 0  # store reads made by checks (for /metrics and benchmarks)

    def load(self) -> None:
        """Fingerprint what the ledger holds. Blocking; a no-op where the process is not exclusive."""
        if not self.exclusive:
            return
        rows = self.store.query("SELECT tenant, adapter, digest, delivery FROM {db}.webhook_deliveries", role="writer")
        hashes = [h for t, a, g, d in rows for h in (_hash("digest", t, a, g), _hash("delivery", t, a, d))]
        self._index.add(hashes)
        self._index.fold()
        log.info("delivery ledger: %d recorded deliveries", len(rows))

    def refusals(self, tenant: str, deliveries: list[Entry]) -> tuple[dict[int, ApiError], set[int]]:
        """Of these deliveries, the ones refused (409, by index) and the ones new to the ledger.
        Within the list, an earlier delivery counts as already accepted. Blocking."""
        known = self._known(tenant, deliveries)
        refused: dict[int, ApiError] = {}
        new: set[int] = set()
        for index, (adapter, delivery, digest) in enumerate(deliveries):
            seen = [k for k in known if k[0] == adapter and (k[2] == digest or k[1] == delivery)]
            for _, other, other_digest, when in seen:
                if other_digest == digest and other != delivery:
                    reason = (
                        f"this signed body was already accepted at {when} as delivery {other!r}; "
                        f"the same body under another delivery id ({delivery!r}) is refused as a replay"
                    )
                elif other == delivery and other_digest != digest:
                    reason = f"delivery id {delivery!r} was already used at {when} for another body; an id is used once"
                else:
                    continue
                details = [{"index": None, "id": delivery, "field": "delivery", "reason": reason}]
                refused[index] = ApiError(409, "replayed_delivery", reason, details)
                break
            if index not in refused and not seen:
                new.add(index)
                known.append((adapter, delivery, digest, "this request"))
        return refused, new

    def _known(self, tenant: str, deliveries: list[Entry]) -> list[tuple[str, str, str, str]]:
        """The recorded entries sharing a digest or a delivery id with these."""
        if self.exclusive:
            hits = self._index.candidates(
                [h for a, d, g in deliveries for h in (_hash("digest", tenant, a, g), _hash("delivery", tenant, a, d))]
            )
            deliveries = [e for i, e in enumerate(deliveries) if hits[2 * i] or hits[2 * i + 1]]
            if not deliveries:
                return []
        self.reads += 1
        rows = self.store.read(
            "SELECT adapter, delivery, digest, received_at FROM {db}.webhook_deliveries WHERE tenant = {tenant:String} "
            "AND ((adapter, digest) IN {digests:Array(Tuple(String, String))} "
            "OR (adapter, delivery) IN {ids:Array(Tuple(String, String))})",
            tenant,
            {"digests": [(a, g) for a, _, g in deliveries], "ids": [(a, d) for a, d, _ in deliveries]},
        )
        return [(r["adapter"], r["delivery"], r["digest"], rfc3339(r["received_at"]) or "") for r in rows]

    async def record(self, writer: TelemetryWriter, tenant: str, entries: list[Entry], now: datetime) -> None:
        """Add accepted deliveries; returns once they are stored (with other requests' in one insert)."""
        if not entries:
            return
        table = pa.Table.from_arrays(
            [
                pa.array([tenant] * len(entries), pa.string()),
                pa.array([a for a, _, _ in entries], pa.string()),
                pa.array([g for _, _, g in entries], pa.string()),
                pa.array([d for _, d, _ in entries], pa.string()),
                pa.array([now] * len(entries), LEDGER_SCHEMA.field("received_at").type),
            ],
            schema=LEDGER_SCHEMA,
        )
        try:
            try:
                await writer.submit({"webhook_deliveries": table})
            except Backpressure:  # the events are already stored: the ledger entry must not wait
                await asyncio.to_thread(self.store.insert_arrow, "webhook_deliveries", table, "telemetry")
        finally:  # a failed insert may have landed: a hit only costs a read
            self._index.add(
                h for a, d, g in entries for h in (_hash("digest", tenant, a, g), _hash("delivery", tenant, a, d))
            )
