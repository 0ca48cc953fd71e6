"""Properties of the X12 reader: separators are whatever the ISA says, and reading is lossless."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.x12.tokenizer import tokenize
from adapters.x12.writer import serialize

DATA = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-", min_size=0, max_size=8)
SEPARATORS = "*~|^!`{}+\x1d\x1c\x1e"


@st.composite
def interchanges(draw: st.DrawFn) -> tuple[bytes, tuple[str, str, str]]:
    element, component, terminator = draw(st.permutations(list(SEPARATORS)).map(lambda p: tuple(p[:3])))
    n_sets = draw(st.integers(1, 3))
    body: list[str] = []
    for k in range(n_sets):
        segments = [f"ST{element}850{element}{k + 1:04d}"]
        for _ in range(draw(st.integers(0, 5))):
            tag = draw(st.sampled_from(["BEG", "REF", "PO1", "N1", "DTM"]))
            values = draw(st.lists(st.lists(DATA, min_size=1, max_size=3), min_size=1, max_size=5))
            segments.append(element.join([tag, *(component.join(v) for v in values)]))
        segments.append(f"SE{element}{len(segments) + 1}{element}{k + 1:04d}")
        body.extend(segments)
    isa = element.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            "SENDER".ljust(15),
            "ZZ",
            "RECEIVER".ljust(15),
            "261120",
            "1000",
            "U",
            "00401",
            "000000042",
            "0",
            "P",
            component,
        ]
    )
    lines = [
        isa,
        element.join(["GS", "PO", "SENDER", "RECEIVER", "20261120", "1000", "7", "X", "004010"]),
        *body,
        element.join(["GE", str(n_sets), "7"]),
        element.join(["IEA", "1", "000000042"]),
    ]
    return (terminator.join(lines) + terminator).encode("latin-1"), (element, component, terminator)


def structure(raw: bytes) -> list[list[list[list[str]]]]:
    (interchange,) = tokenize(raw)
    return [[[s.composites[1:] for s in t.segments] for t in g.sets] for g in interchange.groups]


@settings(max_examples=200, deadline=None)
@given(interchanges(), st.permutations(list(SEPARATORS)))
def test_tokenize_serialize_tokenize_is_lossless_whatever_the_separators(
    case: tuple[bytes, tuple[str, str, str]], other: list[str]
) -> None:
    raw, (element, component, terminator) = case
    (interchange,) = tokenize(raw)
    assert (interchange.element_sep, interchange.component_sep, interchange.segment_term) == (
        element,
        component,
        terminator,
    )
    again = serialize(interchange, other[0], other[1], other[2])
    assert structure(again) == structure(raw)
    assert serialize(tokenize(again)[0], element, component, terminator) == raw
