"""UN/EDIFACT: interchanges in (ORDERS, DESADV, INVOIC), canonical events out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterResult, FunctionAdapter
from adapters.edifact.envelope import tokenize
from adapters.edifact.mappings import map_interchange
from adapters.partner_zones import partner_zone
from adapters.registry import register

__all__ = ["ADAPTER", "parse", "tokenize"]


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    """Every interchange of `body` → events. Envelope errors and TRADACOMS input raise `AdapterError`;
    message types that are not mapped (BAPLIE, say) yield a note and no event. Dates and times
    without a zone are the UNB sender's local time, by the server's ``x-tower-edi-partner-zones``
    header (TOWER_EDI_PARTNER_ZONES); UTC without it."""
    events: list[dict[str, Any]] = []
    notes: list[str] = []
    for interchange in tokenize(body):
        notes.extend(interchange.notes)
        events.extend(map_interchange(interchange, notes, partner_zone(headers, interchange.sender)))
    return AdapterResult(events=events, notes=notes)


ADAPTER = register(FunctionAdapter(name="edifact", content_types=("application/edifact", "text/plain"), function=parse))
