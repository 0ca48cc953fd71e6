"""OTLP attribute values ↔ the ClickHouse exporter's string form, plus the type that recovers them.

The exporter stores `Map(String, String)` built from pcommon's `AsString`: strings as they are,
ints in decimal, doubles in shortest positional form, bools `true`/`false`, bytes base64, arrays
and maps as JSON. Alongside, Control Tower keeps `{key: type}` for every value that is not a string
(`Int`, `Double`, `Bool`, `Bytes`, `Slice`, `Map`, `Empty`, pcommon's type names), so the typed
value comes back exactly (`typed_value`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def attributes(pairs: Iterable[KeyValue]) -> tuple[dict[str, str], dict[str, str]]:
    """(values as strings, types of the values that are not strings); a repeated key: the last wins."""
    values: dict[str, str] = {}
    types: dict[str, str] = {}
    for pair in pairs:
        key = pair.key
        value = pair.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            values[key] = value.string_value
            if types:
                types.pop(key, None)
            continue
        values[key], types[key] = as_string(value, kind)
    return values, types


def as_string(value: AnyValue, kind: str | None) -> tuple[str, str]:
    if kind == "int_value":
        return str(value.int_value), "Int"
    if kind == "double_value":
        return double_text(value.double_value), "Double"
    if kind == "bool_value":
        return ("true" if value.bool_value else "false"), "Bool"
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode(), "Bytes"
    if kind == "array_value":
        return orjson.dumps([raw(v) for v in value.array_value.values]).decode(), "Slice"
    if kind == "kvlist_value":
        return orjson.dumps({kv.key: raw(kv.value) for kv in value.kvlist_value.values}).decode(), "Map"
    if kind == "string_value":
        return value.string_value, "Str"
    return "", "Empty"


def raw(value: AnyValue) -> Any:
    """A value as plain JSON data (bytes as base64), as pcommon's `AsRaw` renders nested values."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else double_text(number)
    if kind == "bool_value":
        return value.bool_value
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [raw(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: raw(kv.value) for kv in value.kvlist_value.values}
    return None


def double_text(number: float) -> str:
    """Shortest positional decimal, as Go's strconv.FormatFloat(f, 'f', -1, 64): 72.5, 3, 1e21 in full."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def typed_value(text: str, kind: str | None) -> Any:
    """The value a stored (string, type) pair stands for; bytes stay base64 (JSON has no bytes)."""
    if kind is None or kind == "Str" or kind == "Bytes":
        return text
    if kind == "Int":
        return int(text)
    if kind == "Double":
        return float(text)
    if kind == "Bool":
        return text == "true"
    if kind in ("Slice", "Map"):
        return orjson.loads(text)
    return None


def typed(values: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    return {key: typed_value(text, types.get(key)) for key, text in values.items()}
