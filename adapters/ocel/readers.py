"""OCEL 2.0 readers: JSON, XML and SQLite bytes (gzipped or not) → one `OcelLog`.

`read_log` sniffs the format from the bytes (gzip magic, ``{``, ``<``, ``SQLite format 3``).
Times become RFC 3339 UTC; a time without a UTC offset (pm4py writes XML and SQLite logs in local
time) is read in `naive_tz` — UTC unless the caller says otherwise — and the log's notes say so.
OCEL 1.0 logs are refused with an `AdapterError`: convert them to OCEL 2.0 first.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from adapters.base import AdapterError
from adapters.ocel.model import ObjectAttribute, OcelEvent, OcelLog, OcelObject, Relationship
from adapters.payload import bounded_int

EPOCH = "1970-01-01T00:00:00Z"
SQLITE_MAGIC = b"SQLite format 3\x00"
OCEL1 = "OCEL 1.0 logs are not supported; convert the log to OCEL 2.0 (pm4py can) and send that"


def read_log(body: bytes, naive_tz: tzinfo = UTC) -> OcelLog:
    """Any supported OCEL 2.0 serialisation → `OcelLog`; `AdapterError` names where it went wrong."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (EOFError, OSError, zlib.error) as exc:
            raise AdapterError("body", f"is not a readable gzip stream: {exc}") from None
    if body.startswith(SQLITE_MAGIC):
        return read_sqlite(body, naive_tz)
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return read_json(body, naive_tz)
    if head.startswith(b"<"):
        return read_xml(body, naive_tz)
    raise AdapterError("body", "is not an OCEL 2.0 log: expected JSON, XML or SQLite (optionally gzipped)")


class _Times:
    """Turns OCEL times into RFC 3339 UTC, remembering whether any lacked an offset."""

    def __init__(self, naive_tz: tzinfo) -> None:
        self.naive_tz = naive_tz
        self.naive = 0

    def __call__(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise AdapterError(where, "must be a date-time string" if value is not None else "is required")
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise AdapterError(where, f"{value!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            self.naive += 1
            moment = moment.replace(tzinfo=self.naive_tz)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def notes(self) -> list[str]:
        if not self.naive:
            return []
        return [f"{self.naive} time(s) carried no UTC offset and were read in {self.naive_tz}"]


def coerce(value: Any, ocel_type: str | None) -> Any:
    """A textual attribute value as its declared OCEL type (integer, float, boolean); else as is."""
    if not isinstance(value, str) or ocel_type not in ("integer", "float", "boolean"):
        return value
    text = value.strip()
    try:
        if ocel_type == "integer":
            return int(text)
        if ocel_type == "float":
            return float(text)
    except ValueError:
        return value
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return value


def _text(value: Any, where: str) -> str:
    if value is None:
        raise AdapterError(where, "is required")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AdapterError(where, "must be a string")
    text = str(value)
    if not text.strip():
        raise AdapterError(where, "must not be blank")
    return text


# --- JSON -------------------------------------------------------------------------------------


def _list(value: Any, where: str, required: bool = True) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise AdapterError(where, "is required" if value is None else "must be a JSON array")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AdapterError(where, "must be a JSON object")
    return value


def _json_types(raw: Any, where: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for i, item in enumerate(_list(raw, where, required=False)):
        item = _dict(item, f"{where}[{i}]")
        name = _text(item.get("name"), f"{where}[{i}].name")
        attrs: dict[str, str] = {}
        for k, attr in enumerate(_list(item.get("attributes"), f"{where}[{i}].attributes", required=False)):
            attr = _dict(attr, f"{where}[{i}].attributes[{k}]")
            attrs[_text(attr.get("name"), f"{where}[{i}].attributes[{k}].name")] = str(attr.get("type") or "string")
        out[name] = attrs
    return out


def _json_relationships(raw: Any, where: str) -> list[Relationship]:
    out = []
    for k, rel in enumerate(_list(raw, where, required=False)):
        rel = _dict(rel, f"{where}[{k}]")
        qualifier = rel.get("qualifier")
        out.append(
            Relationship(
                _text(rel.get("objectId"), f"{where}[{k}].objectId"), "" if qualifier is None else str(qualifier)
            )
        )
    return out


def read_json(body: bytes, naive_tz: tzinfo = UTC) -> OcelLog:
    try:
        doc = json.loads(body, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        raise AdapterError("body", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise AdapterError("body", f"is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AdapterError("body", "must be a JSON object (an OCEL 2.0 log)")
    if any(key.startswith("ocel:") for key in doc):
        raise AdapterError("body", OCEL1)
    times = _Times(naive_tz)
    event_types = _json_types(doc.get("eventTypes"), "eventTypes")
    object_types = _json_types(doc.get("objectTypes"), "objectTypes")
    events: list[OcelEvent] = []
    for i, raw in enumerate(_list(doc.get("events"), "events")):
        where = f"events[{i}]"
        raw = _dict(raw, where)
        etype = _text(raw.get("type"), f"{where}.type")
        declared = event_types.get(etype, {})
        attributes: dict[str, Any] = {}
        raw_attrs = raw.get("attributes")
        if isinstance(raw_attrs, dict):
            attributes = {str(k): coerce(v, declared.get(str(k))) for k, v in raw_attrs.items()}
        else:
            for k, attr in enumerate(_list(raw_attrs, f"{where}.attributes", required=False)):
                attr = _dict(attr, f"{where}.attributes[{k}]")
                name = _text(attr.get("name"), f"{where}.attributes[{k}].name")
                attributes[name] = coerce(attr.get("value"), declared.get(name))
        events.append(
            OcelEvent(
                id=_text(raw.get("id"), f"{where}.id"),
                type=etype,
                time=times(raw.get("time"), f"{where}.time"),
                attributes=attributes,
                relationships=_json_relationships(raw.get("relationships"), f"{where}.relationships"),
            )
        )
    objects: list[OcelObject] = []
    for i, raw in enumerate(_list(doc.get("objects"), "objects")):
        where = f"objects[{i}]"
        raw = _dict(raw, where)
        otype = _text(raw.get("type"), f"{where}.type")
        declared = object_types.get(otype, {})
        obj_attrs = []
        for k, attr in enumerate(_list(raw.get("attributes"), f"{where}.attributes", required=False)):
            attr = _dict(attr, f"{where}.attributes[{k}]")
            name = _text(attr.get("name"), f"{where}.attributes[{k}].name")
            at = attr.get("time")
            obj_attrs.append(
                ObjectAttribute(
                    name,
                    coerce(attr.get("value"), declared.get(name)),
                    EPOCH if at is None else times(at, f"{where}.attributes[{k}].time"),
                )
            )
        objects.append(
            OcelObject(
                id=_text(raw.get("id"), f"{where}.id"),
                type=otype,
                attributes=obj_attrs,
                relationships=_json_relationships(raw.get("relationships"), f"{where}.relationships"),
            )
        )
    return OcelLog(events, objects, event_types, object_types, format="json", notes=times.notes())


# --- XML --------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(parent: ET.Element | None, name: str) -> list[ET.Element]:
    if parent is None:
        return []
    return [child for child in parent if _local(child.tag) == name]


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    found = _children(parent, name)
    return found[0] if found else None


def _xml_types(root: ET.Element, group: str, item: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section in _children(root, group):
        for k, element in enumerate(_children(section, item), start=1):
            name = _text(element.get("name"), f"/log/{group}/{item}[{k}]/@name")
            out[name] = {
                a.get("name") or "": a.get("type") or "string"
                for attrs in _children(element, "attributes")
                for a in _children(attrs, "attribute")
            }
    return out


def _xml_relationships(element: ET.Element, where: str) -> list[Relationship]:
    return [
        Relationship(
            _text(rel.get("object-id"), f"{where}/objects/relationship[{k}]/@object-id"), rel.get("qualifier") or ""
        )
        for k, rel in enumerate(
            (rel for objs in _children(element, "objects") for rel in _children(objs, "relationship")), start=1
        )
    ]


def _xml_attributes(element: ET.Element) -> Iterable[tuple[int, ET.Element]]:
    return enumerate((a for attrs in _children(element, "attributes") for a in _children(attrs, "attribute")), start=1)


def read_xml(body: bytes, naive_tz: tzinfo = UTC) -> OcelLog:
    if b"<!DOCTYPE" in body[:65536] or b"<!ENTITY" in body[:65536]:
        raise AdapterError("body", "XML with a DOCTYPE or entity declarations is refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise AdapterError("body", f"is not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an unknown encoding in the XML declaration, say
        raise AdapterError("body", f"cannot be read as XML: {exc}") from None
    if _local(root.tag) != "log":
        raise AdapterError("/", f"the root element is <{_local(root.tag)}>; an OCEL 2.0 XML log is a <log>")
    if _child(root, "global") is not None:
        raise AdapterError("/log", OCEL1)
    times = _Times(naive_tz)
    event_types = _xml_types(root, "event-types", "event-type")
    object_types = _xml_types(root, "object-types", "object-type")
    events: list[OcelEvent] = []
    event_sections = _children(root, "events")
    if not event_sections:
        raise AdapterError("/log/events", "is required")
    for i, element in enumerate((e for s in event_sections for e in _children(s, "event")), start=1):
        where = f"/log/events/event[{i}]"
        etype = _text(element.get("type"), f"{where}/@type")
        declared = event_types.get(etype, {})
        attributes = {}
        for k, attr in _xml_attributes(element):
            name = _text(attr.get("name"), f"{where}/attributes/attribute[{k}]/@name")
            attributes[name] = coerce(attr.text or "", declared.get(name))
        events.append(
            OcelEvent(
                id=_text(element.get("id"), f"{where}/@id"),
                type=etype,
                time=times(element.get("time"), f"{where}/@time"),
                attributes=attributes,
                relationships=_xml_relationships(element, where),
            )
        )
    objects: list[OcelObject] = []
    for i, element in enumerate((o for s in _children(root, "objects") for o in _children(s, "object")), start=1):
        where = f"/log/objects/object[{i}]"
        otype = _text(element.get("type"), f"{where}/@type")
        declared = object_types.get(otype, {})
        obj_attrs = []
        for k, attr in _xml_attributes(element):
            name = _text(attr.get("name"), f"{where}/attributes/attribute[{k}]/@name")
            at = attr.get("time")
            obj_attrs.append(
                ObjectAttribute(
                    name,
                    coerce(attr.text or "", declared.get(name)),
                    EPOCH if at is None else times(at, f"{where}/attributes/attribute[{k}]/@time"),
                )
            )
        objects.append(
            OcelObject(
                id=_text(element.get("id"), f"{where}/@id"),
                type=otype,
                attributes=obj_attrs,
                relationships=_xml_relationships(element, where),
            )
        )
    return OcelLog(events, objects, event_types, object_types, format="xml", notes=times.notes())


# --- SQLite -----------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_sqlite(body: bytes, naive_tz: tzinfo = UTC) -> OcelLog:
    handle, path = tempfile.mkstemp(suffix=".sqlite")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _read_sqlite(connection, naive_tz)
        except sqlite3.Error as exc:
            raise AdapterError("body", f"is not a readable OCEL 2.0 SQLite database: {exc}") from None
        finally:
            connection.close()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _read_sqlite(db: sqlite3.Connection, naive_tz: tzinfo) -> OcelLog:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    lowered = {name.lower() for name in tables}
    if "event" not in lowered and {"events", "objects"} <= lowered:
        raise AdapterError("table event", OCEL1)
    for required in ("event", "object", "event_object"):
        if required not in lowered:
            raise AdapterError(f"table {required}", "is missing: not an OCEL 2.0 SQLite log")
    times = _Times(naive_tz)

    def type_tables(kind: str) -> dict[str, str]:
        """OCEL type → its attribute table (via <kind>_map_type, else the type without spaces)."""
        mapped: dict[str, str] = {}
        if f"{kind}_map_type" in lowered:
            mapped = {str(t): str(m) for t, m in db.execute(f"SELECT ocel_type, ocel_type_map FROM {kind}_map_type")}
        out = {}
        for (ocel_type,) in db.execute(f"SELECT DISTINCT ocel_type FROM {kind}"):
            suffix = mapped.get(ocel_type) or "".join(ch for ch in str(ocel_type) if ch.isalnum())
            out[str(ocel_type)] = f"{kind}_{suffix}"
        return out

    def columns(table: str) -> list[str]:
        return [row[1] for row in db.execute(f"PRAGMA table_info({_quote(table)})")]

    event_rows: dict[str, tuple[str, dict[str, Any]]] = {}
    event_types: dict[str, dict[str, str]] = {}
    for ocel_type, table in type_tables("event").items():
        if table.lower() not in lowered:
            raise AdapterError(f"table {table}", f"is missing: it holds the times of {ocel_type!r} events")
        names = columns(table)
        event_types[ocel_type] = {n: "string" for n in names if n not in ("ocel_id", "ocel_time")}
        for row in db.execute(f"SELECT * FROM {_quote(table)}"):
            values = dict(zip(names, row, strict=True))
            event_id = str(values.pop("ocel_id"))
            when = times(values.pop("ocel_time", None), f"table {table}, ocel_id {event_id!r}, ocel_time")
            event_rows[event_id] = (when, {k: v for k, v in values.items() if v is not None})

    relationships: dict[str, list[Relationship]] = {}
    for event_id, object_id, qualifier in db.execute(
        "SELECT ocel_event_id, ocel_object_id, ocel_qualifier FROM event_object ORDER BY rowid"
    ):
        relationships.setdefault(str(event_id), []).append(Relationship(str(object_id), qualifier or ""))

    events = []
    for event_id, ocel_type in db.execute("SELECT ocel_id, ocel_type FROM event ORDER BY rowid"):
        event_id = str(event_id)
        if event_id not in event_rows:
            raise AdapterError(f"table event, ocel_id {event_id!r}", "has no row (and so no time) in its type's table")
        when, attributes = event_rows[event_id]
        events.append(OcelEvent(event_id, str(ocel_type), when, attributes, relationships.get(event_id, [])))

    attributes_of: dict[str, list[ObjectAttribute]] = {}
    object_types: dict[str, dict[str, str]] = {}
    for ocel_type, table in type_tables("object").items():
        if table.lower() not in lowered:
            object_types[ocel_type] = {}
            continue
        names = columns(table)
        skip = ("ocel_id", "ocel_time", "ocel_changed_field")
        object_types[ocel_type] = {n: "string" for n in names if n not in skip}
        for row in db.execute(f"SELECT * FROM {_quote(table)} ORDER BY rowid"):
            values = dict(zip(names, row, strict=True))
            object_id = str(values["ocel_id"])
            raw_time = values.get("ocel_time")
            when = EPOCH if raw_time is None else times(raw_time, f"table {table}, ocel_id {object_id!r}, ocel_time")
            changed = values.get("ocel_changed_field")
            if changed is None and when.startswith("1970-01-01"):
                when = EPOCH  # the initial value, whatever local midnight the writer used
            fields = [changed] if changed else [n for n in names if n not in skip]
            attributes_of.setdefault(object_id, []).extend(
                ObjectAttribute(name, values[name], when) for name in fields if values.get(name) is not None
            )

    o2o: dict[str, list[Relationship]] = {}
    if "object_object" in lowered:
        for source, target, qualifier in db.execute(
            "SELECT ocel_source_id, ocel_target_id, ocel_qualifier FROM object_object ORDER BY rowid"
        ):
            o2o.setdefault(str(source), []).append(Relationship(str(target), qualifier or ""))
    objects = [
        OcelObject(str(oid), str(otype), attributes_of.get(str(oid), []), o2o.get(str(oid), []))
        for oid, otype in db.execute("SELECT ocel_id, ocel_type FROM object ORDER BY rowid")
    ]
    return OcelLog(events, objects, event_types, object_types, format="sqlite", notes=times.notes())
