"""Which time zone an EDI trading partner writes its dates and times in (TOWER_EDI_PARTNER_ZONES).

X12 and EDIFACT let a sender give a time without saying where: BSN03/BSN04, GS04/GS05, ISA09/ISA10,
G62 without G62-05, EDIFACT DTM formats 102/203/204 and the UNB date and time. In practice those are
the sender's local time. The server hands the setting to the X12 and EDIFACT adapters as its own
``x-tower-edi-partner-zones`` header (a client's is overwritten, like ``x-tower-received-at``); a
partner is looked up by its interchange sender id (X12 ISA06, EDIFACT UNB sender), trimmed and in
any case. Without the header, or for a partner it does not name and no ``*`` entry, times are UTC:
adapters stay usable without settings (tests, fuzzers).

A local time converts with the zone's rules for that date (zoneinfo). A wall time that happens twice
(the hour repeated when DST ends) or never (the hour skipped when it starts) is read with fold=0:
the first of the two, and for a skipped time the offset in force before the change (02:30 on a
Chicago spring-forward day is 02:30 CST, 08:30 UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from adapters.base import AdapterError
from tower.settings import parse_partner_zones

HEADER = "x-tower-edi-partner-zones"


@lru_cache(maxsize=32)
def _zones(spec: str) -> dict[str, ZoneInfo]:
    try:
        return parse_partner_zones(spec)
    except ValueError as exc:
        raise AdapterError(HEADER, str(exc)) from None


def partner_zone(headers: Mapping[str, str], sender: str) -> tzinfo:
    """The zone of `sender`'s times: its own entry, else ``*``, else UTC."""
    zones = _zones(headers.get(HEADER, "") or "")
    return zones.get(sender.strip().upper()) or zones.get("*") or UTC
