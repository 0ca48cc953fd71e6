"""Fuzzing the OTLP/HTTP decoders behind `POST /v1/traces` and `POST /v1/logs` on the
opentelemetry-proto and Jaeger example payloads: JSON nodes mutated (OTLP/JSON), protobuf bytes
damaged. Property: rows, or a `DecodeFailure` with a 4xx status and a message (the google.rpc.Status
the endpoint answers); never another exception."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.api.logs import decode_logs
from collector.api.traces import decode_spans
from collector.otlp.decode import JSON, PROTOBUF, DecodeFailure
from tests.hardening.conftest import OUTCOMES
from tests.hardening.mutations import byte_mutations, examples, json_mutations
from tests.support.ocel import FIXTURES
from tower.settings import Settings

OTLP = FIXTURES / "otlp" / "opentelemetry-proto"
TRACES = [OTLP / "trace.json"]
LOGS = [OTLP / "logs.json", OTLP / "events.json"]  # events are log records
IDENTIFIERS = Settings().span_identifiers


def decode(signal: str, body: bytes, encoding: str) -> None:
    try:
        if signal == "traces":
            decode_spans(body, encoding, "fuzz", IDENTIFIERS)
        else:
            decode_logs(body, encoding, "fuzz")
    except DecodeFailure as exc:
        assert 400 <= exc.status < 500 and exc.message.strip()
        OUTCOMES[f"otlp {signal}", "refused"] += 1
        return
    OUTCOMES[f"otlp {signal}", "rows"] += 1


def protobuf(path_json: bytes, message: type) -> bytes:
    return json_format.Parse(path_json, message()).SerializeToString()


SOURCES = {
    "traces": (TRACES, ExportTraceServiceRequest),
    "logs": (LOGS, ExportLogsServiceRequest),
}


@pytest.mark.parametrize("signal", sorted(SOURCES))
@settings(max_examples=examples(80), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_otlp_json(signal: str, data: st.DataObject) -> None:
    paths, _ = SOURCES[signal]
    document = json.loads(data.draw(st.sampled_from(paths), label="fixture").read_bytes())
    decode(signal, data.draw(json_mutations(document), label="body"), JSON)


@pytest.mark.parametrize("signal", sorted(SOURCES))
@settings(max_examples=examples(80), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_otlp_protobuf(signal: str, data: st.DataObject) -> None:
    paths, message = SOURCES[signal]
    encoded = protobuf(data.draw(st.sampled_from(paths), label="fixture").read_bytes(), message)
    decode(signal, data.draw(byte_mutations(encoded), label="body"), PROTOBUF)
