"""UN/EDIFACT interchanges: segments by `pydifact` (which honours the UNA service string advice),
then the envelope checked here: UNB…UNZ, optional UNG…UNE groups, UNH…UNT messages, their counts
and control references."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from pydifact.parser import Parser

from adapters.base import AdapterError

DEFAULT_UNA = ":+.? '"


@dataclass(slots=True)
class Segment:
    """One segment: `tag` and its elements, each a list of components (a simple element is a list of one)."""

    tag: str
    elements: list[list[str]]
    position: int  # 1-based position in the interchange, for error messages

    def get(self, element: int, component: int = 1) -> str:
        """Element `element` (1-based, as EDIFACT numbers them: BGM02 is `get(2)`), component `component`."""
        if element < 1 or element > len(self.elements):
            return ""
        comps = self.elements[element - 1]
        if component < 1 or component > len(comps):
            return ""
        return comps[component - 1].strip()

    def __len__(self) -> int:
        return len(self.elements)


@dataclass(slots=True)
class Message:
    ref: str
    type: str
    version: str  # "D:96A", say
    association: str
    segments: list[Segment]  # between UNH and UNT, both excluded
    group: str = ""


@dataclass(slots=True)
class Interchange:
    sender: str
    recipient: str
    date: str
    time: str
    control: str
    syntax: str
    decimal: str
    messages: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode(body: bytes) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _service_chars(text: str) -> str:
    if text.startswith("UNA"):
        if len(text) < 9:
            raise AdapterError("UNA", f"the service string advice must be 6 characters, got {text[3:]!r}")
        return text[3:9]
    return DEFAULT_UNA


def _check_complete(text: str, una: str) -> None:
    """The body must end with a segment terminator that is not released (else it was cut short)."""
    release, terminator = una[3], una[5]
    body = text[9:] if text.startswith("UNA") else text
    stripped = body.rstrip("\r\n\t ")
    if terminator.strip() == "":  # a blank terminator (rare): nothing to check
        return
    # count terminators not preceded by the release character
    complete, i, last_end = 0, 0, 0
    while i < len(stripped):
        ch = stripped[i]
        if ch == release and release.strip():
            i += 2
            continue
        if ch == terminator:
            complete += 1
            last_end = i + 1
        i += 1
    tail = stripped[last_end:].strip()
    if tail:
        raise AdapterError(
            f"segment {complete + 1}",
            f"truncated: {tail[:40]!r} after the last segment terminator {terminator!r} is not a complete segment",
        )


def segments(text: str) -> tuple[list[Segment], str]:
    """The segments of `text` (UNA left out) and the service characters in force."""
    una = _service_chars(text)
    _check_complete(text, una)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = list(Parser().parse(text))
    except Exception as exc:  # pydifact raises EDISyntaxError and, on odd input, plain errors
        raise AdapterError("body", f"is not EDIFACT syntax: {exc}") from None
    out: list[Segment] = []
    for seg in raw:
        tag = str(seg.tag).strip()
        if tag == "UNA":
            continue
        elements = [[str(c) for c in e] if isinstance(e, list) else [str(e)] for e in seg.elements]
        out.append(Segment(tag, elements, len(out) + 1))
    return out, una


def _count(seg: Segment, element: int, where: str) -> int:
    text = seg.get(element)
    if not text.isdigit():
        raise AdapterError(where, f"the count must be a whole number, got {text!r}")
    return int(text)


def tokenize(body: bytes) -> list[Interchange]:
    """Every interchange of `body`, envelope-checked. Errors raise `AdapterError` naming the element."""
    text = decode(body).lstrip("\r\n\t ")
    if text.startswith("STX=") or text.startswith("STX+"):
        raise AdapterError(
            "STX", "this is a TRADACOMS interchange (STX…END), not UN/EDIFACT: it has no UNB interchange header"
        )
    if not (text.startswith("UNA") or text.startswith("UNB")):
        raise AdapterError("UNB", f"an EDIFACT interchange starts with UNA or UNB, got {text[:20]!r}")
    segs, una = segments(text)
    interchanges: list[Interchange] = []
    i = 0
    while i < len(segs):
        unb = segs[i]
        if unb.tag != "UNB":
            raise AdapterError(unb.tag, f"segment {unb.position} is outside an interchange (expected UNB)")
        if not unb.get(5):
            raise AdapterError("UNB05", "the interchange has no control reference")
        ic = Interchange(
            sender=unb.get(2),
            recipient=unb.get(3),
            date=unb.get(4, 1),
            time=unb.get(4, 2),
            control=unb.get(5),
            syntax=f"{unb.get(1, 1)}:{unb.get(1, 2)}",
            decimal=una[2] if una[2] in ",." else ".",
        )
        if not ic.sender:
            raise AdapterError("UNB02", "the interchange names no sender")
        interchanges.append(ic)
        i = _read_interchange(segs, i + 1, ic)
    if not interchanges:
        raise AdapterError("UNB", "the body holds no interchange")
    return interchanges


def _read_interchange(segs: list[Segment], i: int, ic: Interchange) -> int:
    """Read messages (and groups) from segment index `i` through UNZ; return the index after it."""
    groups = 0
    group_ref = ""
    group_messages = 0
    in_group = False
    current: Message | None = None
    while i < len(segs):
        seg = segs[i]
        i += 1
        if current is not None:
            if seg.tag == "UNT":
                _close_message(current, seg)
                ic.messages.append(current)
                group_messages += 1
                current = None
            elif seg.tag in ("UNH", "UNZ", "UNB", "UNE", "UNG"):
                raise AdapterError(
                    "UNT", f"message {current.ref} ({current.type}) has no UNT trailer before {seg.tag} (truncated?)"
                )
            else:
                current.segments.append(seg)
            continue
        if seg.tag == "UNH":
            if not seg.get(1):
                raise AdapterError("UNH01", f"segment {seg.position}: the message has no reference number")
            current = Message(
                ref=seg.get(1),
                type=seg.get(2, 1),
                version=f"{seg.get(2, 2)}:{seg.get(2, 3)}",
                association=seg.get(2, 5),
                segments=[],
                group=group_ref if in_group else "",
            )
        elif seg.tag == "UNG":
            if in_group:
                raise AdapterError("UNE", f"group {group_ref} has no UNE trailer before the next UNG")
            in_group, group_ref, group_messages = True, seg.get(5), 0
            groups += 1
        elif seg.tag == "UNE":
            if not in_group:
                raise AdapterError("UNE", f"segment {seg.position}: UNE without a UNG")
            if _count(seg, 1, "UNE01") != group_messages:
                raise AdapterError(
                    "UNE01", f"group {group_ref}: UNE01 says {seg.get(1)} messages, the group holds {group_messages}"
                )
            if seg.get(2) != group_ref:
                raise AdapterError("UNE02", f"UNE02 {seg.get(2)!r} does not match the UNG05 reference {group_ref!r}")
            in_group = False
        elif seg.tag == "UNZ":
            if in_group:
                raise AdapterError("UNE", f"group {group_ref} has no UNE trailer before UNZ")
            expected = groups if groups else len(ic.messages)
            what = "groups" if groups else "messages"
            if _count(seg, 1, "UNZ01") != expected:
                raise AdapterError(
                    "UNZ01", f"UNZ01 says {seg.get(1)} {what}, interchange {ic.control} holds {expected}"
                )
            if seg.get(2) != ic.control:
                raise AdapterError("UNZ02", f"UNZ02 {seg.get(2)!r} does not match the UNB05 reference {ic.control!r}")
            return i
        else:
            raise AdapterError(
                seg.tag or f"segment {seg.position}", f"segment {seg.position} is outside a UNH…UNT message"
            )
    if current is not None:
        raise AdapterError("UNT", f"message {current.ref} ({current.type}) has no UNT trailer (truncated)")
    if in_group:
        raise AdapterError("UNE", f"group {group_ref} has no UNE trailer (truncated)")
    if not ic.messages:
        raise AdapterError("UNZ", f"interchange {ic.control} holds no message and has no UNZ trailer (truncated)")
    ic.notes.append(
        f"interchange {ic.control} has no UNZ trailer; its {len(ic.messages)} complete message(s) were read"
    )
    return i


def _close_message(msg: Message, unt: Segment) -> None:
    count = _count(unt, 1, "UNT01")
    actual = len(msg.segments) + 2  # UNH and UNT included
    if count != actual:
        raise AdapterError(
            "UNT01", f"message {msg.ref} ({msg.type}): UNT01 says {count} segments, the message has {actual}"
        )
    if unt.get(2) != msg.ref:
        raise AdapterError("UNT02", f"UNT02 {unt.get(2)!r} does not match the UNH01 message reference {msg.ref!r}")
