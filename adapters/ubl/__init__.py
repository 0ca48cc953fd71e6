"""OASIS UBL 2.x XML documents in, canonical events out (stdlib ElementTree, no lxml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterResult, FunctionAdapter
from adapters.registry import register
from adapters.ubl.mappings import MAPPERS, Doc
from adapters.ubl.xml import doc_type, parse_xml

__all__ = ["ADAPTER", "parse"]


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    """One UBL document → its events. Malformed XML, a non-UBL root or a UBL document type that is
    not mapped raise `AdapterError` naming the element path."""
    root = parse_xml(body)
    kind = doc_type(root, tuple(MAPPERS))
    notes: list[str] = []
    events: list[dict[str, Any]] = MAPPERS[kind](Doc(root, kind, notes))
    return AdapterResult(events=events, notes=notes)


ADAPTER = register(FunctionAdapter(name="ubl", content_types=("application/xml", "text/xml"), function=parse))
