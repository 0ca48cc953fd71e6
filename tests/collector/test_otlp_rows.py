"""The OTLP row builders, pure: exporter-compatible strings, recoverable types, trace ranges, links."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.otlp.spans import span_rows
from tower.otel_values import attributes, double_text, typed

IDENTIFIERS = {"shipment.tracking_number": "tracking", "order.id": ""}


@pytest.mark.parametrize(
    ("number", "text"),
    [(72.5, "72.5"), (3.0, "3"), (1e21, "1000000000000000000000"), (1e-7, "0.0000001"), (-0.0, "-0"),
     (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")],
)  # fmt: skip
def test_doubles_are_written_as_the_collector_writes_them(number: float, text: str) -> None:
    assert double_text(number) == text


def test_every_attribute_type_is_stored_as_the_exporters_string_and_comes_back_typed() -> None:
    pairs = [
        KeyValue(key="s", value=AnyValue(string_value="SO-1")),
        KeyValue(key="i", value=AnyValue(int_value=-9007199254740993)),  # past a double's precision
        KeyValue(key="d", value=AnyValue(double_value=0.1)),
        KeyValue(key="b", value=AnyValue(bool_value=False)),
        KeyValue(key="bytes", value=AnyValue(bytes_value=b"\x00\x01")),
        KeyValue(key="empty", value=AnyValue()),
    ]
    array = KeyValue(key="a")
    array.value.array_value.values.add(int_value=1)
    array.value.array_value.values.add(string_value="x")
    kvlist = KeyValue(key="m")
    kvlist.value.kvlist_value.values.add(key="k", value=AnyValue(bool_value=True))
    values, types = attributes([*pairs, array, kvlist])
    assert values == {
        "s": "SO-1",
        "i": "-9007199254740993",
        "d": "0.1",
        "b": "false",
        "bytes": "AAE=",
        "empty": "",
        "a": '[1,"x"]',
        "m": '{"k":true}',
    }
    assert "s" not in types
    assert typed(values, types) == {
        "s": "SO-1",
        "i": -9007199254740993,
        "d": 0.1,
        "b": False,
        "bytes": "AAE=",
        "empty": None,
        "a": [1, "x"],
        "m": {"k": True},
    }


def test_a_repeated_key_keeps_the_last_value_and_its_type() -> None:
    values, types = attributes(
        [KeyValue(key="k", value=AnyValue(int_value=1)), KeyValue(key="k", value=AnyValue(string_value="x"))]
    )
    assert (values, types) == ({"k": "x"}, {})


def request_of(*spans: tuple[str, str, int, dict[str, str]]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for trace, span, start, attrs in spans:
        s = scope.spans.add(trace_id=bytes.fromhex(trace), span_id=bytes.fromhex(span), name="s")
        s.start_time_unix_nano = start
        s.end_time_unix_nano = start + 5
        for k, v in attrs.items():
            s.attributes.add(key=k, value=AnyValue(string_value=v))
    return request


def test_each_trace_gets_its_time_range_and_identifier_attributes_become_links() -> None:
    a, b = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
    rows = span_rows(
        request_of(
            (a, "00f067aa0ba902b7", 1_700_000_009_000_000_000, {"shipment.tracking_number": "1Z9"}),
            (a, "00f067aa0ba902b8", 1_700_000_001_500_000_000, {"order.id": "SO-1", "other": "x"}),
            (b, "00f067aa0ba902b9", 1_700_000_100_000_000_000, {"order.id": ""}),
        ),
        "acme",
        IDENTIFIERS,
    )
    assert rows.accepted == 3 and rows.rejected == 0
    ranges = {r["TraceId"]: (r["Start"].timestamp(), r["End"].timestamp()) for r in rows.ranges.to_pylist()}
    assert ranges == {a: (1_700_000_001, 1_700_000_009), b: (1_700_000_100, 1_700_000_100)}
    links = [(r["value"], r["namespace"], r["attribute"], r["SpanId"]) for r in rows.links.to_pylist()]
    assert sorted(links) == [
        ("1Z9", "tracking", "shipment.tracking_number", "00f067aa0ba902b7"),
        ("SO-1", "", "order.id", "00f067aa0ba902b8"),
    ]
    assert set(rows.spans.column("tenant").to_pylist()) == {"acme"}
