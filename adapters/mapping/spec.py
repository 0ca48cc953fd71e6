"""Mapping files: the YAML schema, its validation, and the JMESPath expressions it compiles.

A mapping file (see `adapters/mapping/README.md` for the full schema) says, for one kind of JSON
or CSV payload, which records it holds and, per record, which field is the event id, the time, the
milestone, the objects with their identifiers, the dimensions and the facts. Every value but
`name`, `source` (unless `{expr: ...}`), `format`, `timezone`, object types and relations is a
JMESPath expression evaluated against one record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as StrMap
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jmespath
import yaml
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions

from adapters.payload import carrier_key

__all__ = ["Expression", "Mapping", "MappingError", "ObjectSpec", "TypeMap", "load_mapping", "search"]

TOP_KEYS = (
    "name",
    "description",
    "source",
    "format",
    "records",
    "group_by",
    "id",
    "time",
    "timezone",
    "type",
    "type_map",
    "objects",
    "relations",
    "dims",
    "facts",
)
OBJECT_KEYS = ("type", "ids", "required")
TYPE_MAP_KEYS = ("field", "map", "default")
FORMATS = ("json", "csv")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
OBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class MappingError(ValueError):
    """A mapping file is malformed: `key` names the offending mapping key (`objects[1].ids.erp`)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


class _Functions(jmespath_functions.Functions):
    """JMESPath's built-in functions plus a few that payloads need and JMESPath lacks (`lower`,
    `upper` and `trim` pass null through, so an absent field stays absent)."""

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_carrier(self, name: str | None) -> str:
        """`carrier(name)`: a carrier's name as a tracking namespace suffix (`UPS Ground` → `ups`)."""
        return carrier_key(name)

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_lower(self, text: str | None) -> str | None:
        return None if text is None else text.lower()

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_upper(self, text: str | None) -> str | None:
        return None if text is None else text.upper()

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_trim(self, text: str | None) -> str | None:
        return None if text is None else text.strip()

    @jmespath_functions.signature({"types": ["array"]})
    def _func_with_index(self, items: list[Any]) -> list[Any]:
        """`with_index(items)`: each object of `items` with `_index`, its 1-based position, added."""
        return [{**item, "_index": i} if isinstance(item, dict) else item for i, item in enumerate(items, 1)]


_OPTIONS = jmespath.Options(custom_functions=_Functions())
FUNCTIONS: frozenset[str] = frozenset(_Functions.FUNCTION_TABLE)


@dataclass(frozen=True, slots=True)
class Expression:
    """One compiled JMESPath expression and the mapping key it was written under."""

    key: str
    text: str
    compiled: Any = field(repr=False, compare=False)

    def search(self, record: Any) -> Any:
        """Evaluate against `record`; JMESPath runtime errors propagate (the adapter names the record)."""
        return search(self.compiled, record)


def search(compiled: Any, data: Any) -> Any:
    return compiled.search(data, options=_OPTIONS)


@dataclass(frozen=True, slots=True)
class Namespace:
    """An identifier namespace, literal or with `{expression}` placeholders (`po:{customer}`)."""

    key: str
    text: str
    parts: tuple[str | Expression, ...]


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    type: str
    ids: tuple[tuple[Namespace, Expression], ...]
    required: bool = False


@dataclass(frozen=True, slots=True)
class TypeMap:
    field: Expression
    map: dict[str, str]  # keys lower-cased and trimmed
    default: str | None


@dataclass(frozen=True, slots=True)
class Mapping:
    """A validated mapping file."""

    name: str
    description: str
    source: str | Expression
    format: str
    records: Expression | None
    group_by: Expression | None
    id: Expression
    time: Expression
    timezone: ZoneInfo
    type: Expression | TypeMap
    objects: tuple[ObjectSpec, ...]
    relations: tuple[tuple[int, int, str], ...] | None
    dims: tuple[tuple[str, Expression], ...]
    facts: tuple[tuple[str, Expression], ...]

    @property
    def content_types(self) -> tuple[str, ...]:
        return ("text/csv", "text/plain") if self.format == "csv" else ("application/json",)


def load_mapping(text: str) -> Mapping:
    """Parse and validate a mapping file's YAML text; a problem raises `MappingError` naming its key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError("", f"is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise MappingError("", f"a mapping file must be a YAML mapping of keys, got {_kind(raw)}")
    unknown = [str(k) for k in raw if k not in TOP_KEYS]
    if unknown:
        raise MappingError(unknown[0], f"is not a mapping key; known keys: {', '.join(TOP_KEYS)}")

    name = _required(raw, "name")
    if not isinstance(name, str) or not NAME.match(name):
        raise MappingError(
            "name", "must be 1-64 lowercase letters, digits, '.', '_' or '-', starting with one of the first two"
        )
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise MappingError("description", f"must be a string, got {_kind(description)}")

    source_raw = _required(raw, "source")
    source: str | Expression
    if isinstance(source_raw, dict):
        if set(source_raw) != {"expr"}:
            raise MappingError("source", "must be a string or {expr: <JMESPath>}")
        source = _expression("source.expr", source_raw["expr"])
    elif isinstance(source_raw, str) and source_raw.strip():
        source = source_raw.strip()
    else:
        raise MappingError("source", "must be a non-blank string or {expr: <JMESPath>}")

    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        raise MappingError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")

    zone_name = raw.get("timezone", "UTC")
    if not isinstance(zone_name, str):
        raise MappingError("timezone", f"must be an IANA time zone name such as UTC, got {_kind(zone_name)}")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError("timezone", f"{zone_name!r} is not an IANA time zone name such as UTC") from None

    if ("type" in raw) == ("type_map" in raw):
        raise MappingError("type", "give exactly one of type (an expression) or type_map")
    etype: Expression | TypeMap = _expression("type", raw["type"]) if "type" in raw else _type_map(raw["type_map"])

    objects = _objects(_required(raw, "objects"))
    return Mapping(
        name=name,
        description=description.strip(),
        source=source,
        format=fmt,
        records=_expression("records", raw["records"]) if raw.get("records") is not None else None,
        group_by=_expression("group_by", raw["group_by"]) if raw.get("group_by") is not None else None,
        id=_expression("id", _required(raw, "id")),
        time=_expression("time", _required(raw, "time")),
        timezone=zone,
        type=etype,
        objects=objects,
        relations=_relations(raw.get("relations"), len(objects)),
        dims=_named_expressions("dims", raw.get("dims")),
        facts=_named_expressions("facts", raw.get("facts")),
    )


def _required(raw: dict[str, Any], key: str) -> Any:
    if raw.get(key) is None:
        raise MappingError(key, "is required")
    return raw[key]


def _expression(key: str, text: Any) -> Expression:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise MappingError(key, f"must be a JMESPath expression string, got {_kind(text)}")
    source = str(text).strip()
    if not source:
        raise MappingError(key, "must not be blank")
    try:
        compiled = jmespath.compile(source)
    except jmespath_errors.JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise MappingError(key, f"is not a valid JMESPath expression {source!r}: {detail}") from None
    unknown = sorted(_function_names(compiled.parsed) - FUNCTIONS)
    if unknown:
        raise MappingError(key, f"calls unknown function {unknown[0]}() in {source!r}")
    return Expression(key, source, compiled)


def _function_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            names.add(str(node.get("value")))
        for child in node.get("children", ()):
            names |= _function_names(child)
    elif isinstance(node, list):
        for child in node:
            names |= _function_names(child)
    return names


def _namespace(key: str, text: Any) -> Namespace:
    if not isinstance(text, str) or not text.strip():
        raise MappingError(key, "a namespace must be a non-blank string")
    parts: list[str | Expression] = []
    pos = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append(_expression(f"{key} placeholder {{{match.group(1)}}}", match.group(1)))
        pos = match.end()
    if pos < len(text):
        parts.append(text[pos:])
    if any(isinstance(p, str) and ("{" in p or "}" in p) for p in parts):
        raise MappingError(key, "has an unbalanced '{' or '}' (placeholders are {expression}, without nested braces)")
    return Namespace(key, text, tuple(parts))


def _objects(raw: Any) -> tuple[ObjectSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise MappingError("objects", "must be a non-empty list of {type, ids}")
    out: list[ObjectSpec] = []
    for i, item in enumerate(raw):
        key = f"objects[{i}]"
        if not isinstance(item, dict):
            raise MappingError(key, f"must be a mapping with type and ids, got {_kind(item)}")
        unknown = [str(k) for k in item if k not in OBJECT_KEYS]
        if unknown:
            raise MappingError(f"{key}.{unknown[0]}", f"is not an object key; known keys: {', '.join(OBJECT_KEYS)}")
        otype = item.get("type")
        if not isinstance(otype, str) or not OBJECT_TYPE.match(otype):
            raise MappingError(f"{key}.type", "must be a lowercase object type such as order or shipment")
        ids = item.get("ids")
        if not isinstance(ids, dict) or not ids:
            raise MappingError(f"{key}.ids", "must be a non-empty mapping of namespace → expression")
        pairs = tuple(
            (_namespace(f"{key}.ids.{ns}", ns), _expression(f"{key}.ids.{ns}", expr)) for ns, expr in ids.items()
        )
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise MappingError(f"{key}.required", f"must be true or false, got {_kind(required)}")
        out.append(ObjectSpec(otype, pairs, required))
    return tuple(out)


def _type_map(raw: Any) -> TypeMap:
    if not isinstance(raw, dict):
        raise MappingError("type_map", "must be a mapping with field, map and optional default")
    unknown = [str(k) for k in raw if k not in TYPE_MAP_KEYS]
    if unknown:
        raise MappingError(f"type_map.{unknown[0]}", f"is not a type_map key; known keys: {', '.join(TYPE_MAP_KEYS)}")
    field_expr = _expression("type_map.field", _required_in(raw, "type_map", "field"))
    table = _required_in(raw, "type_map", "map")
    if not isinstance(table, dict) or not table:
        raise MappingError("type_map.map", "must be a non-empty mapping of value → event type")
    clean: dict[str, str] = {}
    for value, etype in table.items():
        if not isinstance(etype, str) or not TYPE_NAME.match(etype):
            raise MappingError(f"type_map.map.{value}", "must be a lowercase domain.action event type")
        clean[str(value).strip().lower()] = etype
    default = raw.get("default")
    if default is not None and (not isinstance(default, str) or not TYPE_NAME.match(default)):
        raise MappingError("type_map.default", "must be a lowercase domain.action event type")
    return TypeMap(field_expr, clean, default)


def _required_in(raw: dict[str, Any], parent: str, key: str) -> Any:
    if raw.get(key) is None:
        raise MappingError(f"{parent}.{key}", "is required")
    return raw[key]


def _relations(raw: Any, count: int) -> tuple[tuple[int, int, str], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise MappingError("relations", "must be a list of [i, j] or [i, j, qualifier] indexes into objects")
    pairs: list[tuple[int, int, str]] = []
    for k, pair in enumerate(raw):
        key = f"relations[{k}]"
        if not isinstance(pair, list) or len(pair) not in (2, 3):
            raise MappingError(key, "must be [i, j] or [i, j, qualifier]")
        i, j = pair[0], pair[1]
        if type(i) is not int or type(j) is not int or not (0 <= i < count and 0 <= j < count) or i == j:
            raise MappingError(key, f"must name two different objects by index 0-{count - 1}")
        qualifier = pair[2] if len(pair) == 3 else ""
        if not isinstance(qualifier, str):
            raise MappingError(key, "the qualifier must be a string")
        pairs.append((i, j, qualifier))
    return tuple(pairs)


def _named_expressions(key: str, raw: Any) -> tuple[tuple[str, Expression], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MappingError(key, "must be a mapping of name → expression")
    return tuple((str(name), _expression(f"{key}.{name}", expr)) for name, expr in raw.items())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, StrMap):
        return "a mapping"
    return type(value).__name__
