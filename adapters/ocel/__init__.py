"""OCEL 2.0 object-centric event logs (JSON, XML or SQLite; gzipped or not) → canonical events.

``POST /v1/adapters/ocel`` with the log as the body. Query parameters (they reach the adapter as
``x-tower-param-*`` headers), all optional:

- ``log``: the log's name; events come from source ``ocel/<log>`` (``ocel/log`` without it).
- ``mapping``: a TOML document laid over the default activity and object-type mapping (see
  `adapters.ocel.mapping`).
- ``timezone``: an offset (``+01:00``) or IANA zone (``Europe/Berlin``) for times written without
  a UTC offset, as pm4py writes XML and SQLite logs; UTC without it.

`adapters.ocel.export.journeys_to_ocel` goes the other way: journeys → an OCEL 2.0 JSON log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.base import AdapterError, AdapterResult, FunctionAdapter
from adapters.ocel.convert import to_canonical
from adapters.ocel.export import journeys_to_ocel
from adapters.ocel.mapping import OcelMapping
from adapters.ocel.model import OcelEvent, OcelLog, OcelObject
from adapters.ocel.readers import read_log
from adapters.payload import header
from adapters.registry import register

__all__ = [
    "ADAPTER",
    "OcelEvent",
    "OcelLog",
    "OcelMapping",
    "OcelObject",
    "journeys_to_ocel",
    "parse",
    "read_log",
    "to_canonical",
]

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def naive_timezone(value: str | None) -> tzinfo:
    """``+01:00`` / ``-0500`` / ``UTC`` / an IANA name → a tzinfo; `AdapterError` when unknown."""
    if not value or value.upper() in ("UTC", "Z"):
        return UTC
    match = _OFFSET.match(value)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes = int(match.group(2)), int(match.group(3))
        if hours > 23 or minutes > 59:
            raise AdapterError("timezone", f"{value!r} is not a UTC offset: hours run 00-23 and minutes 00-59")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        zone = ZoneInfo(value)
        datetime(2000, 1, 1, tzinfo=zone).utcoffset()
        return zone
    except (ZoneInfoNotFoundError, ValueError):
        raise AdapterError("timezone", f"{value!r} is neither a UTC offset (+01:00) nor a known time zone") from None


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    mapping_text = header(headers, "x-tower-param-mapping")
    mapping = OcelMapping.from_toml(mapping_text) if mapping_text else OcelMapping()
    name = header(headers, "x-tower-param-log") or "log"
    log = read_log(body, naive_timezone(header(headers, "x-tower-param-timezone")))
    events = to_canonical(log, mapping, source=f"ocel/{name}")
    notes = [f"OCEL 2.0 {log.format}: {len(log.events)} event(s), {len(log.objects)} object(s)", *log.notes]
    return AdapterResult(events=events, notes=notes)


ADAPTER = register(
    FunctionAdapter(
        name="ocel",
        content_types=("application/json", "application/xml", "application/vnd.sqlite3", "application/octet-stream"),
        function=parse,
    )
)
