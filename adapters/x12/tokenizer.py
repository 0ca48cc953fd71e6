"""Split an X12 body into interchanges, functional groups, transaction sets and segments.

Separators come from the fixed-width ISA header of each interchange: the element separator is
the character at index 3, the component separator ISA16 (index 104), the segment terminator the
character right after it (index 105) and the repetition separator ISA11 when ISA12 is 00402 or
later (before that ISA11 is the standards identifier, usually ``U``).

Tolerated layout quirks, all seen in partner files:

- a UTF-8 byte order mark, and a body in UTF-8 (the U+2026 ``…`` terminator) or Latin-1;
- CR/LF and indentation after each terminator (segments are stripped of surrounding blanks);
- lines wrapped at a fixed width, even inside the ISA header: when the terminator is not itself a
  line break, every CR and LF in the interchange is dropped before splitting;
- several interchanges one after another in one body;
- an ISA whose fixed-width fields are padded one short or long (``850_Example3_Adobe_CLP``,
  ``860_Example1``): the separators are then read by counting ISA's 16 element separators, and
  the interchange carries a note saying so.

Repetitions are *not* split: the repetition separator is recorded on the `Interchange` but
elements keep it as data, because partners routinely pick a character (``-``, ``^``) that their
own data also contains (a BOL number ``999999-001`` under ISA11 ``-``), and no mapping here reads
a repeating element.

Envelope checks — all strict, each raising `AdapterError(where, reason)`:

- ``ISA`` header shorter than 106 characters, or separators that collide → ``where="ISA"``;
- an IEA, GE or SE without its opening segment, or an envelope left open → the segment name;
- ISA13 ≠ IEA02 → ``"IEA02"``; IEA01 ≠ number of groups → ``"IEA01"``;
- GS06 ≠ GE02 → ``"GE02"``; GE01 ≠ number of sets → ``"GE01"``;
- ST02 ≠ SE02 → ``"SE02"``; SE01 ≠ number of segments counting ST and SE → ``"SE01"``.

Control-number mismatches are real partner errors and always raise (``210_DBSchenker`` GE02 24 vs
GS06 1, ``940_simplot`` GE02 and IEA02, ``945_inter-americanproducts`` whose GS has an extra
element so GS06 is a date). Count mismatches are raised too, not merely noted: the fixtures that show one
(``846_Example2``, ``860_Example1``) are sample files whose segment terminators are missing, so
two segments fused into one — exactly what a count check exists to catch, and the events such a
file would produce are built from mangled segments. No well-formed partner file in the fixtures
carries a wrong count, so there was no case for leniency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adapters.base import AdapterError

ISA_LENGTH = 106
LINE_BREAKS = "\r\n\v\f"
INDENT = " \t"


@dataclass(slots=True)
class Segment:
    """One segment: `elements[0]` is the tag, `elements[n]` the X12 element ``TAGnn``.

    `composites[n]` is element n split by the component separator.
    """

    elements: list[str]
    composites: list[list[str]]

    @property
    def tag(self) -> str:
        return self.elements[0]

    def get(self, n: int, default: str = "") -> str:
        """Element n (1-based, as in BEG03) stripped, or `default` when absent."""
        if 0 < n < len(self.elements):
            return self.elements[n].strip()
        return default

    def component(self, n: int, k: int, default: str = "") -> str:
        """Component k (1-based) of element n."""
        if 0 < n < len(self.composites) and 0 < k <= len(self.composites[n]):
            return self.composites[n][k - 1].strip()
        return default

    def __len__(self) -> int:
        return len(self.elements)


@dataclass(slots=True)
class TransactionSet:
    header: Segment  # ST
    segments: list[Segment]  # between ST and SE, exclusive
    trailer: Segment  # SE

    @property
    def set_id(self) -> str:
        return self.header.get(1)

    @property
    def control(self) -> str:
        return self.header.get(2)


@dataclass(slots=True)
class FunctionalGroup:
    header: Segment  # GS
    sets: list[TransactionSet]
    trailer: Segment  # GE

    @property
    def functional_id(self) -> str:
        return self.header.get(1)

    @property
    def control(self) -> str:
        return self.header.get(6)


@dataclass(slots=True)
class Interchange:
    header: Segment  # ISA
    groups: list[FunctionalGroup]
    trailer: Segment  # IEA
    element_sep: str
    component_sep: str
    segment_term: str
    repetition_sep: str | None
    version: str
    notes: list[str] = field(default_factory=list)

    @property
    def sender(self) -> str:
        return self.header.get(6)

    @property
    def receiver(self) -> str:
        return self.header.get(8)

    @property
    def control(self) -> str:
        return self.header.get(13)


def decode(body: bytes) -> str:
    """UTF-8 when it decodes (the ellipsis terminator needs it), else Latin-1; BOM removed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    return text.lstrip("\ufeff")


def _isa_end(text: str) -> int:
    """Index of the segment terminator of the ISA starting `text`: after the 16th element separator
    and the one-character ISA16; -1 when the text is too short."""
    sep = text[3:4]
    pos = 3
    for _ in range(15):
        pos = text.find(sep, pos + 1, pos + 200)
        if pos < 0:
            return -1
    return pos + 2 if pos + 2 < len(text) else -1


def _header_at(text: str, start: int, notes: list[str]) -> tuple[str, int]:
    """The ISA header at `start` (terminator included), and where the text goes on after it.

    The header is 106 characters by the standard; a header broken by line wrapping (a CR or LF
    before its terminator) is read with its line breaks removed, and one whose fields are padded
    short or long is read by counting its 16 element separators (noted). Only a small window of
    the text is looked at, so reading many interchanges stays linear in the size of the body.
    """
    data = text[start : start + 4 * ISA_LENGTH]
    end = _isa_end(data)
    wrapped = end > 0 and ("\r" in data[:end] or "\n" in data[:end])
    if wrapped:
        data = data.replace("\r", "").replace("\n", "")
        end = _isa_end(data)
    if end < 0:
        raise AdapterError("ISA", f"the ISA header is cut short: {data[:ISA_LENGTH]!r}")
    if end != ISA_LENGTH - 1:
        notes.append(f"ISA header is {end + 1} characters, not {ISA_LENGTH}; separators read by counting elements")
    head = data[: end + 1]
    if not wrapped:
        return head, start + end + 1
    # Walk the original text past as many characters as the header has, skipping line breaks.
    pos, kept = start, 0
    while kept < len(head):
        if text[pos] not in "\r\n":
            kept += 1
        pos += 1
    return head, pos


_CONTENT = re.compile(r"\S")


def tokenize(body: bytes | str) -> list[Interchange]:
    """Every interchange in `body`, envelopes checked; raises `AdapterError` on a broken one."""
    text = decode(body) if isinstance(body, bytes) else body.lstrip("\ufeff")
    interchanges: list[Interchange] = []
    pos = 0
    while True:
        start = text.find("ISA", pos)
        if start < 0 or text[pos:start].strip() != "":
            rest = _CONTENT.search(text, pos)
            if interchanges and rest is None:
                return interchanges
            if not interchanges:
                raise AdapterError("ISA", "no ISA interchange header at the start of the body")
            raise AdapterError("ISA", f"unexpected data after IEA: {text[pos : pos + 60].strip()[:40]!r}")
        interchange, pos, leftover = _read_interchange(text, start)
        interchanges.append(interchange)
        if leftover:  # a wrapped file read as a whole: go on with what followed its IEA
            if leftover.strip():
                interchanges.extend(tokenize(leftover))
            return interchanges
        if _CONTENT.search(text, pos) is None:
            return interchanges


def _segment_at(text: str, opening: str, pos: int, segment_term: str) -> int:
    """Where the first segment opening with `opening` (a tag and its element separator) starts at or
    after `pos`: after a segment terminator and any layout, never inside another segment's data
    (``BEG*IEA*…``); -1 when there is none."""
    while True:
        found = text.find(opening, pos)
        if found < 0:
            return -1
        before = found
        while not text.endswith(segment_term, 0, before):
            if before == 0 or text[before - 1] not in LINE_BREAKS + INDENT:
                break
            before -= 1
        else:
            return found
        pos = found + 1


def _read_interchange(text: str, start: int) -> tuple[Interchange, int, str]:
    """The interchange at `start`, the position after it, and (only when its IEA could not be found
    in the raw text, a wrapped file) the text that followed it."""
    notes: list[str] = []
    head, head_end = _header_at(text, start, notes)
    element_sep = head[3]
    component_sep = head[-2]
    segment_term = head[-1]
    if len({element_sep, component_sep, segment_term}) < 3 or element_sep.isalnum() or segment_term.isalnum():
        raise AdapterError(
            "ISA",
            f"separators element {element_sep!r}, component {component_sep!r}, "
            f"terminator {segment_term!r} must be distinct non-alphanumeric characters",
        )
    raw_isa = head[:-2].split(element_sep)
    if len(raw_isa) != 17:
        raise AdapterError("ISA", f"the ISA header has {len(raw_isa)} fields, it must have 17")
    version = raw_isa[12].strip()
    repetition_sep = raw_isa[11] if version.isdigit() and version >= "00402" else None

    # Read up to this interchange's IEA only; when line wrapping hides it, read to the end.
    iea = _segment_at(text, "IEA" + element_sep, head_end, segment_term)
    terminator = text.find(segment_term, iea) if iea >= 0 else -1
    window_end = terminator + len(segment_term) if terminator >= 0 else len(text)
    body = text[head_end:window_end]
    if segment_term not in "\r\n":
        body = body.replace("\r", "").replace("\n", "")

    def make(raw: str) -> Segment:
        elements = raw.split(element_sep)
        return Segment(elements, [e.split(component_sep) for e in elements])

    isa = Segment([*raw_isa[:16], component_sep], [*([e] for e in raw_isa[:16]), [component_sep]])
    groups: list[FunctionalGroup] = []
    group: tuple[Segment, list[TransactionSet]] | None = None
    tset: tuple[Segment, list[Segment]] | None = None
    pos = 0
    while True:
        end = body.find(segment_term, pos)
        raw = body[pos:] if end < 0 else body[pos:end]
        pos = len(body) if end < 0 else end + len(segment_term)
        # Only layout: line breaks around a segment and indentation before it. str.strip() would
        # also eat \x1c-\x1f (some partners' separators) and trailing spaces, which are data.
        raw = raw.strip(LINE_BREAKS).lstrip(INDENT)
        if not raw:
            if end < 0:
                raise AdapterError("IEA", f"interchange {isa.get(13)} has no IEA trailer")
            continue
        seg = make(raw)
        tag = seg.tag.strip()
        seg.elements[0] = tag
        if tag == "GS":
            if group is not None:
                raise AdapterError("GE", f"group {group[0].get(6)} is not closed by a GE before the next GS")
            group = (seg, [])
        elif tag == "ST":
            if group is None:
                raise AdapterError("GS", f"transaction set {seg.get(2)} is outside a functional group")
            if tset is not None:
                raise AdapterError("SE", f"transaction set {tset[0].get(2)} is not closed by an SE before the next ST")
            tset = (seg, [])
        elif tag == "SE":
            if tset is None:
                raise AdapterError("ST", f"SE {seg.get(2)} has no ST")
            st, segs = tset
            if seg.get(2) != st.get(2):
                raise AdapterError("SE02", f"SE02 {seg.get(2)!r} does not match ST02 {st.get(2)!r}")
            actual = len(segs) + 2
            if not seg.get(1).isdigit() or int(seg.get(1)) != actual:
                raise AdapterError(
                    "SE01", f"SE01 says {seg.get(1)} segments, the set {st.get(2)} has {actual} (ST and SE included)"
                )
            assert group is not None
            group[1].append(TransactionSet(st, segs, seg))
            tset = None
        elif tag == "GE":
            if group is None:
                raise AdapterError("GS", f"GE {seg.get(2)} has no GS")
            if tset is not None:
                raise AdapterError("SE", f"transaction set {tset[0].get(2)} is not closed by an SE before GE")
            gs, sets = group
            if seg.get(2) != gs.get(6):
                raise AdapterError("GE02", f"GE02 {seg.get(2)!r} does not match GS06 {gs.get(6)!r}")
            if not seg.get(1).isdigit() or int(seg.get(1)) != len(sets):
                raise AdapterError(
                    "GE01", f"GE01 says {seg.get(1)} transaction sets, group {gs.get(6)} has {len(sets)}"
                )
            groups.append(FunctionalGroup(gs, sets, seg))
            group = None
        elif tag == "IEA":
            if group is not None:
                raise AdapterError("GE", f"group {group[0].get(6)} is not closed by a GE before IEA")
            if seg.get(2) != isa.get(13):
                raise AdapterError("IEA02", f"IEA02 {seg.get(2)!r} does not match ISA13 {isa.get(13)!r}")
            if not seg.get(1).isdigit() or int(seg.get(1)) != len(groups):
                raise AdapterError(
                    "IEA01", f"IEA01 says {seg.get(1)} functional groups, interchange {isa.get(13)} has {len(groups)}"
                )
            interchange = Interchange(
                header=isa,
                groups=groups,
                trailer=seg,
                element_sep=element_sep,
                component_sep=component_sep,
                segment_term=segment_term,
                repetition_sep=repetition_sep,
                version=version,
                notes=notes,
            )
            leftover = body[pos:] if window_end == len(text) else ""
            return interchange, window_end, leftover
        elif tag == "ISA":
            raise AdapterError("IEA", f"interchange {isa.get(13)} has no IEA before the next ISA")
        else:
            if tset is None:
                raise AdapterError(tag or "segment", f"segment {tag!r} is outside a transaction set")
            tset[1].append(seg)
