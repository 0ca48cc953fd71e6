"""ANSI X12 EDI: interchanges in, canonical events out, a 997 back to the sender."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterResult, FunctionAdapter
from adapters.partner_zones import partner_zone
from adapters.registry import register
from adapters.x12.ack import build_997
from adapters.x12.mappings import map_interchange
from adapters.x12.tokenizer import tokenize

__all__ = ["ADAPTER", "build_997", "parse", "tokenize"]


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    """Every interchange of `body` → events; the reply is a 997 per interchange carrying anything
    but 997s (acknowledgements are not acknowledged). Envelope errors raise `AdapterError`.

    Times without a time code are the sender's (ISA06) local time, by the server's
    ``x-tower-edi-partner-zones`` header (TOWER_EDI_PARTNER_ZONES); UTC without it."""
    events: list[dict[str, Any]] = []
    notes: list[str] = []
    replies: list[bytes] = []
    for interchange in tokenize(body):
        notes.extend(interchange.notes)
        rejected: dict[tuple[str, str], str] = {}
        events.extend(map_interchange(interchange, notes, rejected, partner_zone(headers, interchange.sender)))
        if any(t.set_id != "997" for g in interchange.groups for t in g.sets):
            replies.append(build_997(interchange, rejected=rejected))
    return AdapterResult(
        events=events,
        reply=b"".join(replies) if replies else None,
        reply_content_type="application/edi-x12",
        notes=notes,
    )


ADAPTER = register(FunctionAdapter(name="x12", content_types=("application/edi-x12", "text/plain"), function=parse))
