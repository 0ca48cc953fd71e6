"""Structure-aware mutations of real payloads, as hypothesis strategies.

A fuzzer that only flips bytes mostly tests the first few lines of a parser (the JSON decoder, the
ISA header). These strategies damage a real fixture the way a buggy sender would: a JSON value of
the wrong type or absurd size at a random place, an X12 or EDIFACT segment dropped, repeated,
reordered or with its elements cut or overfilled, an XML element removed or its text replaced, a
CSV cell emptied or a column lost, a row of an SQLite log rewritten. The result stays close enough
to the real thing to get deep into each adapter's mapping code.

`FUZZ_EXAMPLES` scales every fuzz test: `TOWER_FUZZ_EXAMPLES=5000 pytest tests/hardening` for a
long run; the default keeps the whole folder within CI's budget.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("TOWER_FUZZ_EXAMPLES", "0") or 0)


def examples(default: int) -> int:
    """`default` examples, or `TOWER_FUZZ_EXAMPLES` when set (for a long, opt-in run)."""
    return FUZZ_EXAMPLES or default


# Values that have broken parsers before: wrong types, blanks, huge and tiny numbers, non-finite
# floats (Python's json accepts NaN), control and non-ASCII characters, separators, bad dates.
NASTY_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "99999999999999999999999999",
    "NaN",
    "null",
    "true",
    "x" * 600,
    "\x00",
    "\u202e\u0000\ud7ff",
    "é日本",
    "*~:+'?",
    "IEA",  # envelope tags as data: a reader must not take them for the trailer
    "UNZ+1",
    "2026-13-45T99:99:99Z",
    "2026-02-30",
    "20261345",
    "2500",
    "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00",
    "1Z999AA10123456784",
    "{expr}",
    "../../etc/passwd",
]
NASTY_JSON: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**64),
    1.5,
    1e308,
    float("nan"),
    float("inf"),
    [],
    {},
    [None],
    {"": None},
    *NASTY_TEXT,
]

json_leaves = st.one_of(
    st.sampled_from(NASTY_JSON),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


# ------------------------------------------------------------------------------------------ JSON


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(_paths(child, (*prefix, index)))
    return paths


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def mutate_json(draw: st.DrawFn, document: Any, rounds: int = 4) -> Any:
    """`document` (decoded JSON, copied) with 1..`rounds` nodes replaced, deleted, duplicated or retyped."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, rounds))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "retype", "wrap"]))
        if not path:
            if action in ("replace", "retype"):
                document = copy.deepcopy(draw(json_values))
            elif action == "wrap":
                document = [document]
            continue
        parent = _get(document, path[:-1])
        key = path[-1]
        if action == "replace":
            # copies: a drawn value is shared (NASTY_JSON's [] and {}), and later rounds mutate in place
            parent[key] = copy.deepcopy(draw(json_values))
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif action == "retype":
            old = parent[key]
            if isinstance(old, str):
                parent[key] = draw(st.sampled_from([0, 12345, None, [old], {"value": old}]))
            elif isinstance(old, bool | int | float):
                parent[key] = draw(st.sampled_from([str(old), None, [old], -old if not isinstance(old, bool) else 0]))
            else:
                parent[key] = copy.deepcopy(draw(st.sampled_from(NASTY_JSON)))
        else:
            parent[key] = [parent[key]]
    return document


@st.composite
def json_mutations(draw: st.DrawFn, document: Any) -> bytes:
    """`document` mutated, serialised as Python's json writes it (NaN and Infinity included)."""
    return json.dumps(mutate_json(draw, document), ensure_ascii=draw(st.booleans())).encode()


# ---------------------------------------------------------------------------------- X12 / EDIFACT


def x12_separators(text: str) -> tuple[str, str, str]:
    """(element, component, segment terminator) as the ISA header fixes them."""
    start = text.index("ISA")
    return text[start + 3], text[start + 104], text[start + 105]


def edifact_separators(text: str) -> tuple[str, str, str]:
    """(element, component, segment terminator): the UNA service string advice, else the defaults."""
    if text.startswith("UNA"):
        return text[4], text[3], text[8]
    return "+", ":", "'"


@st.composite
def segment_mutations(draw: st.DrawFn, text: str, separators: tuple[str, str, str], keep_head: int = 1) -> bytes:
    """Segments of an EDI interchange dropped, repeated, moved, cut short or overfilled.

    The first `keep_head` segments (the ISA, or UNA/UNB) keep their shape so that most examples
    get past the envelope into the message mappings."""
    element, component, terminator = separators
    trailing = text.endswith(terminator) or text.rstrip().endswith(terminator)
    segments = [s for s in text.split(terminator) if s.strip()]
    for _ in range(draw(st.integers(1, 5))):
        if len(segments) <= keep_head:
            break
        at = draw(st.integers(keep_head, len(segments) - 1))
        action = draw(
            st.sampled_from(["drop", "repeat", "move", "cut", "overfill", "value", "component", "retag", "blank"])
        )
        parts = segments[at].split(element)
        if action == "drop":
            del segments[at]
        elif action == "repeat":
            segments.insert(at, segments[at])
        elif action == "move":
            segments.insert(draw(st.integers(keep_head, len(segments) - 1)), segments.pop(at))
        elif action == "cut":
            segments[at] = element.join(parts[: draw(st.integers(1, max(1, len(parts))))])
        elif action == "overfill":
            segments[at] = element.join([*parts, *draw(st.lists(st.sampled_from(NASTY_TEXT), min_size=1, max_size=30))])
        elif action in ("value", "component") and len(parts) > 1:
            index = draw(st.integers(1, len(parts) - 1))
            value = draw(st.sampled_from(NASTY_TEXT) | st.text(max_size=20))
            if action == "component":
                value = component.join([parts[index], value, ""])
            parts[index] = value
            segments[at] = element.join(parts)
        elif action == "retag":
            tags = sorted({s.split(element)[0].strip() for s in segments})
            parts[0] = parts[0].replace(parts[0].strip(), draw(st.sampled_from(tags)))
            segments[at] = element.join(parts)
        elif action == "blank":
            segments[at] = parts[0]
    out = terminator.join(segments) + (terminator if trailing else "")
    return out.encode("latin-1", "replace")


# ------------------------------------------------------------------------------------------- XML


@st.composite
def xml_mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """An XML document with elements removed, repeated, emptied, retagged or given absurd text."""
    root = ET.fromstring(raw)
    for _ in range(draw(st.integers(1, 5))):
        elements = list(root.iter())
        parents = {child: parent for parent in elements for child in parent}
        target = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["remove", "repeat", "text", "empty", "retag", "attribute"]))
        parent = parents.get(target)
        if action == "remove" and parent is not None:
            parent.remove(target)
        elif action == "repeat" and parent is not None:
            parent.insert(list(parent).index(target), copy.deepcopy(target))
        elif action == "text":
            target.text = draw(st.sampled_from(NASTY_TEXT) | st.text(max_size=20))
        elif action == "empty":
            for child in list(target):
                target.remove(child)
            target.text = None
        elif action == "retag":
            target.tag = draw(st.sampled_from(sorted({e.tag for e in elements})))
        elif action == "attribute":
            target.set(
                draw(st.sampled_from(["schemeID", "listID", "unitCode", "currencyID"])), draw(st.text(max_size=8))
            )
    body = ET.tostring(root, encoding="utf-8")
    if draw(st.booleans()):  # and sometimes the serialised document cut short
        body = body[: draw(st.integers(0, len(body)))]
    return body


# ------------------------------------------------------------------------------------------- CSV


@st.composite
def csv_mutations(draw: st.DrawFn, text: str) -> bytes:
    """A CSV file with cells blanked or replaced, columns lost, rows repeated or ragged."""
    rows = [line.split(",") for line in text.splitlines()]
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(rows) - 1))
        action = draw(st.sampled_from(["cell", "blank", "drop_column", "repeat", "ragged", "quote"]))
        row = rows[at]
        if action in ("cell", "blank", "quote") and row:
            index = draw(st.integers(0, len(row) - 1))
            row[index] = {
                "cell": draw(st.sampled_from(NASTY_TEXT) | st.text(max_size=12)).replace("\n", " "),
                "blank": "",
                "quote": '"' + row[index],
            }[action]
        elif action == "drop_column" and rows[0]:
            index = draw(st.integers(0, len(rows[0]) - 1))
            for each in rows:
                if index < len(each):
                    del each[index]
        elif action == "repeat":
            rows.insert(at, list(row))
        else:
            rows[at] = row[: draw(st.integers(0, len(row)))] + draw(st.lists(st.sampled_from(NASTY_TEXT), max_size=3))
    return ("\n".join(",".join(row) for row in rows) + "\n").encode("utf-8", "replace")


# ---------------------------------------------------------------------------------------- SQLite


@st.composite
def sqlite_mutations(draw: st.DrawFn, path: Path) -> bytes:
    """An SQLite OCEL log with rows rewritten (values of the wrong type or shape), deleted, or a table dropped."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "log.sqlite"
        copy.write_bytes(path.read_bytes())
        connection = sqlite3.connect(copy)
        try:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for _ in range(draw(st.integers(1, 4))):
                table = draw(st.sampled_from(tables))
                columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
                action = draw(st.sampled_from(["update", "delete", "drop", "null"]))
                if action == "drop":
                    connection.execute(f'DROP TABLE IF EXISTS "{table}"')
                    tables.remove(table)
                    if not tables:
                        break
                elif action == "delete":
                    connection.execute(
                        f'DELETE FROM "{table}" WHERE rowid IN (SELECT rowid FROM "{table}" ORDER BY random() LIMIT ?)',
                        (draw(st.integers(1, 3)),),
                    )
                elif columns:
                    column = draw(st.sampled_from(columns))
                    value = None if action == "null" else draw(st.sampled_from(NASTY_JSON[:9] + NASTY_TEXT))
                    if isinstance(value, int) and not -(2**63) <= value < 2**63:
                        value = str(value)
                    with contextlib.suppress(sqlite3.IntegrityError):  # a unique column keeps its values
                        connection.execute(
                            f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = (SELECT min(rowid) FROM "{table}") + ?',
                            (value, draw(st.integers(0, 3))),
                        )
            connection.commit()
        finally:
            connection.close()
        return copy.read_bytes()


# ------------------------------------------------------------------------------------------ bytes


@st.composite
def byte_mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """Bytes flipped, runs cut or repeated: damage in transit, or a file cut short."""
    sample = bytearray(raw)
    for _ in range(draw(st.integers(1, 6))):
        if not sample:
            break
        at = draw(st.integers(0, len(sample) - 1))
        action = draw(st.sampled_from(["flip", "cut", "dup", "truncate"]))
        if action == "flip":
            sample[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del sample[at : at + draw(st.integers(1, 50))]
        elif action == "dup":
            sample[at:at] = sample[at : at + draw(st.integers(1, 50))]
        else:
            del sample[at:]
    return bytes(sample)
