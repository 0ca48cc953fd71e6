"""`MappingAdapter`: a payload and a `Mapping` in, canonical events out."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping as StrMap
from typing import Any

from jmespath import exceptions as jmespath_errors

from adapters.base import AdapterError, AdapterResult, event
from adapters.mapping.spec import Expression, Mapping, Namespace, TypeMap
from adapters.payload import load_json, parse_instant, rfc3339, type_name
from tower.events import find_unstorable

__all__ = ["MappingAdapter"]


class MappingAdapter:
    """An adapter made of a mapping file: registered as `mapping/<mapping name>`."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    @property
    def name(self) -> str:
        return f"mapping/{self.mapping.name}"

    @property
    def content_types(self) -> tuple[str, ...]:
        return self.mapping.content_types

    def parse(self, body: bytes, headers: StrMap[str, str], secrets: StrMap[str, str]) -> AdapterResult:
        """Each record the mapping selects → one event; records with no identifier at all are skipped
        with a note. An expression error or a missing required value raises `AdapterError` whose
        `where` reads `<mapping name>.<key> at record N` (N counts the selected records from 0)."""
        m = self.mapping
        payload = self._csv(body) if m.format == "csv" else load_json(body)
        records = self._records(payload)
        events: list[dict[str, Any]] = []
        notes: list[str] = []
        seen: dict[tuple[str, str], int] = {}
        for n, record in enumerate(records):
            built = self._event(n, record, notes)
            if built is None:
                continue
            key = (built["source"], built["id"])
            if key in seen:
                notes.append(f"record {n} repeats event id {built['id']!r} of record {seen[key]}; sent once")
                continue
            seen[key] = n
            events.append(built)
        if not records:
            notes.append(f"{m.name}: the payload holds no records")
        return AdapterResult(events=events, notes=notes)

    # -- reading the payload -------------------------------------------------------------------

    def _csv(self, body: bytes) -> list[dict[str, str | None]]:
        """Rows as records of string fields (header names trimmed; blank cells become null)."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AdapterError("body", f"is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise AdapterError(f"body line {reader.line_num}", f"is not valid CSV: {exc}") from None
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        if not rows:
            return []
        header = [cell.strip() for cell in rows[0]]
        if any(not h for h in header) or len(set(header)) != len(header):
            raise AdapterError("body line 1", "the CSV header must name every column once")
        out: list[dict[str, str | None]] = []
        for number, row in enumerate(rows[1:], 2):
            if len(row) > len(header):
                raise AdapterError(f"body row {number}", f"has {len(row)} cells; the header names {len(header)}")
            cells = [cell.strip() for cell in row] + [""] * (len(header) - len(row))
            out.append({h: (c or None) for h, c in zip(header, cells, strict=True)})
        return out

    def _records(self, payload: Any) -> list[Any]:
        m = self.mapping
        selected = payload
        if m.records is not None:
            selected = self._eval(m.records, payload, None)
        if selected is None:
            raise AdapterError(f"{m.name}.records", f"{m.records.text if m.records else '@'!r} selects nothing")
        records = selected if isinstance(selected, list) else [selected]
        for n, record in enumerate(records):
            if not isinstance(record, dict):
                raise AdapterError(f"{m.name}.records at record {n}", f"must select objects, got {type_name(record)}")
        if m.group_by is None:
            return records
        groups: dict[str, dict[str, Any]] = {}
        for n, record in enumerate(records):
            key = repr(self._eval(m.group_by, record, n))
            if key not in groups:
                groups[key] = {**record, "rows": []}
            groups[key]["rows"].append(record)
        return list(groups.values())

    # -- one record → one event ----------------------------------------------------------------

    def _event(self, n: int, record: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
        m = self.mapping
        objects: list[dict[str, Any]] = []
        position: dict[int, int] = {}  # mapping object index → index among the objects kept
        missing: list[int] = []
        for k, spec in enumerate(m.objects):
            ids: dict[str, str] = {}
            for namespace, expression in spec.ids:
                ns = self._namespace(namespace, record, n)
                value = self._text(expression, record, n)
                if ns is not None and value is not None:
                    ids[ns] = value
            if ids:
                position[k] = len(objects)
                objects.append({"type": spec.type, "ids": ids})
            elif spec.required:
                missing.append(k)
        if not objects:
            notes.append(f"{m.name}: record {n} names no identifier; skipped")
            return None
        if missing:
            k = missing[0]
            raise AdapterError(f"{m.name}.objects[{k}] at record {n}", f"the {m.objects[k].type} has no identifier")

        event_id = self._required_text(m.id, record, n)
        source = m.source if isinstance(m.source, str) else self._required_text(m.source, record, n)
        etype = self._type(record, n)
        time = self._time(record, n)

        relations: list[list[Any]] | None = None
        if m.relations is not None:
            relations = []
            for i, j, qualifier in m.relations:
                if i in position and j in position:
                    pair: list[Any] = [position[i], position[j]]
                    if qualifier:
                        pair.append(qualifier)
                    relations.append(pair)
        dims: dict[str, str] = {}
        for name, expression in m.dims:
            value = self._text(expression, record, n)
            if value is not None:
                dims[name] = value
        facts: dict[str, Any] = {}
        for name, expression in m.facts:
            value = _drop_nulls(self._eval(expression, record, n))
            unstorable = find_unstorable(value, name)
            if unstorable is not None:
                raise AdapterError(
                    f"{m.name}.facts.{unstorable} at record {n}", "is an integer beyond 64 bits; it cannot be stored"
                )
            if value is not None:
                facts[name] = value
        return event(event_id, source, etype, time, objects, relations=relations, dims=dims, facts=facts)

    def _type(self, record: dict[str, Any], n: int) -> str:
        m = self.mapping
        if isinstance(m.type, Expression):
            return self._required_text(m.type, record, n)
        table: TypeMap = m.type
        value = self._text(table.field, record, n)
        etype = table.map.get(value.lower()) if value is not None else None
        if etype is None:
            etype = table.default
        if etype is None:
            raise AdapterError(
                f"{m.name}.type_map at record {n}",
                f"{value!r} is not one of {', '.join(sorted(table.map))} and type_map has no default",
            )
        return etype

    def _time(self, record: dict[str, Any], n: int) -> str:
        m = self.mapping
        value = self._eval(m.time, record, n)
        where = f"{m.name}.time at record {n}"
        if value is None or (isinstance(value, str) and not value.strip()):
            raise AdapterError(where, f"{m.time.text!r} is required but empty")
        return rfc3339(parse_instant(value, where, naive_tz=m.timezone))

    # -- evaluating expressions ----------------------------------------------------------------

    def _eval(self, expression: Expression, record: Any, n: int | None) -> Any:
        try:
            return expression.search(record)
        except jmespath_errors.JMESPathError as exc:
            at = f" at record {n}" if n is not None else ""
            detail = " ".join(str(exc).split())
            raise AdapterError(f"{self.mapping.name}.{expression.key}{at}", f"{expression.text!r}: {detail}") from None

    def _text(self, expression: Expression, record: Any, n: int) -> str | None:
        """A scalar as text (numbers as written, whole floats without '.0'); null or blank → None."""
        value = self._eval(expression, record, n)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, str | int | float):
            raise AdapterError(
                f"{self.mapping.name}.{expression.key} at record {n}",
                f"{expression.text!r} must give a string or number, got {type_name(value)}",
            )
        return str(value).strip() or None

    def _required_text(self, expression: Expression, record: Any, n: int) -> str:
        value = self._text(expression, record, n)
        if value is None:
            raise AdapterError(
                f"{self.mapping.name}.{expression.key} at record {n}", f"{expression.text!r} is required but empty"
            )
        return value

    def _namespace(self, namespace: Namespace, record: Any, n: int) -> str | None:
        """The namespace with its placeholders filled in; None when one of them is empty."""
        out: list[str] = []
        for part in namespace.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = self._text(part, record, n)
            if value is None:
                return None
            out.append(value)
        return "".join(out)


def _drop_nulls(value: Any) -> Any:
    """Facts without the nulls JMESPath leaves for absent fields (`{uom: stock_uom}` with no stock_uom)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value
