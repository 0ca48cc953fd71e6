"""Reading UBL 2.x XML with the standard library: parsing with the element path of any error,
the document type from the root, and small helpers over the cbc/cac namespaces."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from adapters.base import AdapterError

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
DOC_NS = re.compile(r"^urn:oasis:names:specification:ubl:schema:xsd:([A-Za-z]+)-2$")
PREFIXES = {CBC: "cbc", CAC: "cac"}


def local(tag: str) -> tuple[str, str]:
    """`{ns}name` → (ns, name)."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def step(tag: str) -> str:
    """An element as a path step: cbc:/cac: prefixed, the document element by its local name."""
    ns, name = local(tag)
    prefix = PREFIXES.get(ns)
    return f"{prefix}:{name}" if prefix else name


def parse_xml(body: bytes) -> ET.Element:
    """The root element; malformed XML raises `AdapterError` naming the element path open at the fault."""
    stack: list[str] = []
    root: ET.Element | None = None
    try:
        for kind, elem in ET.iterparse(io.BytesIO(body), events=("start", "end")):
            if kind == "start":
                if root is None:
                    root = elem
                stack.append(step(elem.tag))
            else:
                stack.pop()
    except ET.ParseError as exc:
        where = "/" + "/".join(stack) if stack else "/"
        raise AdapterError(where, f"is not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an XML declaration naming an unknown encoding, say
        raise AdapterError("/", f"cannot be read as XML: {exc}") from None
    if root is None:
        raise AdapterError("/", "the body holds no XML element")
    return root


def doc_type(root: ET.Element, known: tuple[str, ...]) -> str:
    """The UBL document type the root declares; anything else raises `AdapterError` at the root."""
    ns, name = local(root.tag)
    match = DOC_NS.match(ns)
    where = f"/{name}"
    if match is None:
        shown = f"{{{ns}}}{name}" if ns else name
        raise AdapterError(where, f"{shown} is not a UBL 2 document (expected a root in the urn:oasis UBL namespaces)")
    if match.group(1) != name:
        raise AdapterError(where, f"the root {name} does not match its namespace's document type {match.group(1)}")
    if name not in known:
        raise AdapterError(where, f"UBL {name} is not mapped; this adapter reads {', '.join(known)}")
    return name


def q(path: str) -> str:
    """`cac:Party/cbc:ID` → the ElementTree path with namespace URIs."""
    out = []
    for part in path.split("/"):
        if part.startswith("cbc:"):
            out.append(f"{{{CBC}}}{part[4:]}")
        elif part.startswith("cac:"):
            out.append(f"{{{CAC}}}{part[4:]}")
        else:
            out.append(part)
    return "/".join(out)


def find(elem: ET.Element | None, path: str) -> ET.Element | None:
    return None if elem is None else elem.find(q(path))


def findall(elem: ET.Element | None, path: str) -> list[ET.Element]:
    return [] if elem is None else elem.findall(q(path))


def text(elem: ET.Element | None, path: str = "") -> str:
    target = elem if not path else find(elem, path)
    if target is None or target.text is None:
        return ""
    return target.text.strip()


def number(value: str) -> int | float | None:
    try:
        parsed = float(value.strip())
    except ValueError:
        return None
    return int(parsed) if parsed.is_integer() else parsed


def instant(date: str, time: str, where: str) -> str:
    """A UBL date (YYYY-MM-DD, maybe with a zone) and optional time (hh:mm:ss[.f][zone]) → RFC 3339 UTC;
    no zone is read as UTC."""
    day = date.strip()
    if len(day) > 10:  # xsd:date may carry a zone: 2010-01-20Z, 2010-01-20+01:00
        day = day[:10]
    clock = time.strip() or "00:00:00"
    if clock.endswith("Z"):
        clock = clock[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        raise AdapterError(where, f"{date!r} {time!r} is not an xsd:date and xsd:time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(date: str) -> str | None:
    """An xsd:date as YYYY-MM-DD, or None."""
    head = date.strip()[:10]
    try:
        datetime.strptime(head, "%Y-%m-%d")
    except ValueError:
        return None
    return head
