"""Interchanges back to bytes, with the separators of one's choosing (what the 997 builder and the
round-trip property rely on)."""

from __future__ import annotations

from adapters.x12.tokenizer import Interchange, Segment


def serialize_segment(segment: Segment, element_sep: str, component_sep: str) -> str:
    elements = [segment.elements[0]]
    for n in range(1, len(segment.elements)):
        parts = segment.composites[n] if n < len(segment.composites) else [segment.elements[n]]
        elements.append(component_sep.join(parts) if segment.elements[0] != "ISA" else segment.elements[n])
    return element_sep.join(elements)


def serialize(
    interchange: Interchange,
    element_sep: str | None = None,
    component_sep: str | None = None,
    segment_term: str | None = None,
) -> bytes:
    """The interchange as X12 bytes; separators default to the ones it was read with."""
    e = element_sep or interchange.element_sep
    c = component_sep or interchange.component_sep
    t = segment_term or interchange.segment_term
    isa = list(interchange.header.elements)
    isa[16] = c  # ISA16 carries the component separator
    segments = [e.join(isa)]
    for group in interchange.groups:
        segments.append(serialize_segment(group.header, e, c))
        for transaction in group.sets:
            segments.append(serialize_segment(transaction.header, e, c))
            segments.extend(serialize_segment(s, e, c) for s in transaction.segments)
            segments.append(serialize_segment(transaction.trailer, e, c))
        segments.append(serialize_segment(group.trailer, e, c))
    segments.append(serialize_segment(interchange.trailer, e, c))
    return (t.join(segments) + t).encode("latin-1")
