"""Reading JSON payloads for the adapters: decoding, required fields by path, RFC 3339 UTC times, carrier names."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from adapters.base import AdapterError

# Squeezed carrier names (lowercase, letters and digits only) that mean the same tracking namespace.
CARRIER_ALIASES: dict[str, str] = {
    "dhlexpress": "dhl",
    "mydhl": "dhl",
    "dhlecommerce": "dhl",
    "fedexground": "fedex",
    "fedexexpress": "fedex",
    "unitedparcelservice": "ups",
    "upsground": "ups",
    "upsnextdayair": "ups",
    "upsmailinnovations": "ups",
    "usps": "usps",
    "unitedstatespostalservice": "usps",
    "auspost": "australiapost",
    "australiapost": "australiapost",
    "colissimo": "laposte",
    "laposte": "laposte",
    # Standard Carrier Alpha Codes, as X12 856 TD503, 214 B1003 and 210 B311 name carriers.
    "upsn": "ups",
    "upsg": "ups",
    "upss": "ups",
    "upgf": "ups",
    "fdeg": "fedex",
    "fdxg": "fedex",
    "fdxe": "fedex",
    "fdex": "fedex",
    "fde": "fedex",
    "fxfe": "fedex",
    "fxnl": "fedex",
    "dhlc": "dhl",
    "dhlg": "dhl",
    "dhxe": "dhl",
}


def carrier_key(name: str | None) -> str:
    """A carrier's name as a namespace suffix: lowercase, runs of other characters become '-'."""
    if not name or not name.strip():
        return "unknown"
    lowered = name.strip().lower()
    squeezed = re.sub(r"[^a-z0-9]+", "", lowered)
    if squeezed in CARRIER_ALIASES:
        return CARRIER_ALIASES[squeezed]
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "unknown"


def bounded_int(text: str) -> int:
    """`json.loads`'s `parse_int`: integers as Python reads them, but none that 64 bits cannot hold
    (the store and orjson cannot, and no platform means one)."""
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise AdapterError("body", f"holds the integer {text[:24]}…, beyond 64 bits; send it as a string")
    return value


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        raise AdapterError("body", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # undecodable bytes
        raise AdapterError("body", f"is not valid JSON: {exc}") from None


def need_dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise AdapterError(path, "is required")
    if not isinstance(value, dict):
        raise AdapterError(path, f"must be a JSON object, got {type_name(value)}")
    return value


def need_list(value: Any, path: str) -> list[Any]:
    if value is None:
        raise AdapterError(path, "is required")
    if not isinstance(value, list):
        raise AdapterError(path, f"must be a JSON array, got {type_name(value)}")
    return value


def opt_dict(value: Any) -> dict[str, Any]:
    """An optional sub-object: itself when it is one, else empty (its absence or odd shape is no error)."""
    return value if isinstance(value, dict) else {}


def opt_list(value: Any) -> list[Any]:
    """An optional list: itself when it is one, else empty."""
    return value if isinstance(value, list) else []


def need_str(value: Any, path: str) -> str:
    """A non-blank identifier: strings as they are, whole numbers as digits."""
    if value is None:
        raise AdapterError(path, "is required")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AdapterError(path, f"must be a string, got {type_name(value)}")
    text = str(value).strip()
    if not text:
        raise AdapterError(path, "must not be blank")
    return text


def opt_str(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None


def need_int(value: Any, path: str) -> int:
    if value is None:
        raise AdapterError(path, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdapterError(path, f"must be a whole number, got {type_name(value)}")
    return value


def parse_instant(value: Any, path: str, *, assume_utc: bool = False, naive_tz: tzinfo | None = None) -> datetime:
    """An ISO 8601 / RFC 3339 date-time → aware UTC datetime. Naive times are an error unless the
    caller knows the format carries none: then they are read in `naive_tz`, or UTC with `assume_utc`."""
    if assume_utc and naive_tz is None:
        naive_tz = UTC
    if value is None:
        raise AdapterError(path, "is required")
    if not isinstance(value, str):
        raise AdapterError(path, f"must be a date-time string, got {type_name(value)}")
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AdapterError(path, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        if naive_tz is None:
            raise AdapterError(path, f"{value!r} has no UTC offset")
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_utc(value: Any, path: str, *, assume_utc: bool = False) -> str:
    return rfc3339(parse_instant(value, path, assume_utc=assume_utc))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (the edge lower-cases them; tests may not)."""
    value = headers.get(name.lower())
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name.lower():
                value = candidate
                break
    if value is None or not value.strip():
        return None
    return value.strip()


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
