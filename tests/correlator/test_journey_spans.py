"""A journey lists the spans of each sync step beneath its milestone, and spans naming its identifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from adapters.base import event
from adapters.sdk import Emitter
from collector.app import MIGRATIONS
from collector.otlp.schema import SPAN_DOCUMENT
from collector.otlp.spans import span_rows
from correlator.spans import trace_spans
from tests.conftest import ServerProcess, correlated, post_events, wait_for
from tests.support.spans import TRACE, two_spans
from tower.store import Store
from tower.telemetry import configure_tracing


def journey_of(api: httpx.Client, identifier: str) -> dict[str, Any]:
    wait_for(lambda: correlated(api))
    (match,) = api.get("/v1/lookup", params={"q": identifier}).json()["matches"]
    return api.get(f"/v1/journeys/{match['journeys'][0]}").json()


def test_a_journey_shows_the_spans_of_its_sync_steps_beneath_their_milestones(
    server: ServerProcess, api: httpx.Client, tenant: str
) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers={"X-Tower-Tenant": tenant})
    provider = configure_tracing("erp-connector", exporter=exporter, set_global=False)
    assert provider is not None
    tracer = provider.get_tracer("erp-connector")
    with Emitter(server.url, tenant=tenant, source="erp/netsuite") as tower:
        with tracer.start_as_current_span("erp.accept_order", kind=SpanKind.CONSUMER) as accept:
            for attempt in (1, 2):
                with tracer.start_as_current_span(
                    "POST /erp/orders", kind=SpanKind.CLIENT, attributes={"http.request.resend_count": attempt - 1}
                ) as call:
                    if attempt == 1:
                        call.set_status(Status(StatusCode.ERROR, "503 Service Unavailable"))
            objects = [{"type": "order", "ids": {"erp": "SO-5001", "shop": "#5001"}}]
            tower.emit(event("acc-5001", "", "order.accepted", "2026-11-20T10:04:00Z", objects))
            tower.flush()
        with tracer.start_as_current_span("wms.confirm_pick") as pick:
            tower.emit(event("pick-5001", "wms/dc-east", "fulfillment.picked", "2026-11-20T12:00:00Z", objects[:1]))
            tower.flush()
        with tracer.start_as_current_span("unrelated.job"):
            pass
    provider.force_flush()
    provider.shutdown()

    journey = journey_of(api, "SO-5001")
    by_event = {e["id"]: e for e in journey["events"]}
    accept_ctx, pick_ctx = accept.get_span_context(), pick.get_span_context()
    accepted = by_event["acc-5001"]["spans"]
    assert [s["name"] for s in accepted] == ["erp.accept_order", "POST /erp/orders", "POST /erp/orders"]
    assert {s["trace_id"] for s in accepted} == {f"{accept_ctx.trace_id:032x}"}
    assert [s["parent_span_id"] for s in accepted[1:]] == [f"{accept_ctx.span_id:016x}"] * 2
    assert [s["status"]["code"] for s in accepted[1:]] == ["Error", "Unset"]
    assert [s["attributes"]["http.request.resend_count"] for s in accepted[1:]] == [0, 1]
    assert [s["span_id"] for s in by_event["pick-5001"]["spans"]] == [f"{pick_ctx.span_id:016x}"]
    # The journey's own list: every linked span once, with the milestone it sits beneath.
    assert len(journey["spans"]) == 4
    assert {s["name"] for s in journey["spans"]} == {"erp.accept_order", "POST /erp/orders", "wms.confirm_pick"}
    assert all(s["linked_by"] == "traceparent" for s in journey["spans"])
    step = next(s for s in journey["spans"] if s["name"] == "wms.confirm_pick")
    assert step["events"] == [{"source": "wms/dc-east", "id": "pick-5001"}]
    assert sorted(journey["traces"]) == sorted([f"{accept_ctx.trace_id:032x}", f"{pick_ctx.trace_id:032x}"])


def otlp_json_span(trace_id: str, span_id: str, name: str, attributes: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "carrier-sync"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": name,
                                "kind": 3,
                                "startTimeUnixNano": "1795600000000000000",
                                "endTimeUnixNano": "1795600000250000000",
                                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_a_span_naming_a_tracking_number_appears_in_that_orders_journey(api: httpx.Client) -> None:
    tracking = "1Z999AA10123456784"
    post_events(
        api,
        [
            event(
                "o-1", "shop/eu", "order.received", "2026-11-20T10:00:00Z", [{"type": "order", "ids": {"shop": "#77"}}]
            ),
            event(
                "lbl-1",
                "shipping/shipstation",
                "shipment.manifested",
                "2026-11-20T16:00:00Z",
                [{"type": "order", "ids": {"shop": "#77"}}, {"type": "shipment", "ids": {"tracking:ups": tracking}}],
            ),
        ],
    )
    named = otlp_json_span(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "ups.track", {"shipment.tracking_number": tracking}
    )
    # The same value under an attribute configured for another namespace (po) names no shipment.
    other_namespace = otlp_json_span(
        "4bf92f3577b34da6a3ce929d0e0e4737", "00f067aa0ba902b8", "po.lookup", {"purchase_order.number": tracking}
    )
    stranger = otlp_json_span(
        "4bf92f3577b34da6a3ce929d0e0e4738", "00f067aa0ba902b9", "ups.track", {"shipment.tracking_number": "1ZOTHER"}
    )
    for body in (named, other_namespace, stranger):
        assert api.post("/v1/traces", json=body).status_code == 200

    journey = journey_of(api, tracking)
    (span,) = journey["spans"]
    shipment = next(o for o in journey["objects"] if o["type"] == "shipment")
    assert (span["name"], span["service"], span["kind"]) == ("ups.track", "carrier-sync", "Client")
    assert span["linked_by"] == "attribute" and span["events"] == []
    assert span["matched"] == [
        {"attribute": "shipment.tracking_number", "value": tracking, "object_id": shipment["id"]}
    ]
    assert all(e["spans"] == [] for e in journey["events"])


def test_a_malformed_trace_whose_step_span_is_its_own_parent_still_shows_once(api: httpx.Client) -> None:
    trace_id = "5b8efff798038103d269b633813fc60d"
    step, child, grandchild = "e100000000000000", "e200000000000000", "e300000000000000"
    spans = [
        {"traceId": trace_id, "spanId": step, "parentSpanId": step, "name": "step"},  # its own parent
        {"traceId": trace_id, "spanId": child, "parentSpanId": step, "name": "child"},
        {"traceId": trace_id, "spanId": grandchild, "parentSpanId": child, "name": "grandchild"},
    ]
    for span in spans:
        span |= {"startTimeUnixNano": "1795600000000000000", "endTimeUnixNano": "1795600000000001000"}
    assert api.post("/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).status_code == 200
    objects = [{"type": "order", "ids": {"erp": "SO-LOOP"}}]
    traceparent = f"00-{trace_id}-{step}-01"
    post_events(
        api, [event("loop-1", "erp/x", "order.accepted", "2026-11-20T10:00:00Z", objects, traceparent=traceparent)]
    )
    (accepted,) = journey_of(api, "SO-LOOP")["events"]
    assert sorted(s["name"] for s in accepted["spans"]) == ["child", "grandchild", "step"]


def test_spans_read_the_same_from_a_server_that_quotes_64_bit_integers_in_json(tmp_path: Path) -> None:
    # A ClickHouse server whose profile sets output_format_json_quote_64bit_integers writes a span's
    # document (`spans_by_trace.span`, made by toJSONString when stored) with its nanosecond times as
    # strings: the span, its event and its link must read back as from any other server.
    trace = TRACE
    request = two_spans(trace, with_event_and_link=True)
    rows = span_rows(request, "acme", {})
    store = Store(f"chdb://{tmp_path / 'ch'}")
    try:
        store.migrate(MIGRATIONS)
        store.insert_arrow("spans_by_trace", rows.spans)
        plain = trace_spans(store, "acme", [trace])
        assert [s["name"] for s in plain] == ["sync.order", "erp.post"]
        assert plain[0]["start_unix_nano"] == 1_790_000_000_000_000_007 and plain[0]["events"][0]["name"] == "retry"

        store.insert_arrow("otel_traces", rows.spans)
        store.command("TRUNCATE TABLE {db}.spans_by_trace")
        quote = "SETTINGS output_format_json_quote_64bit_integers = 1"
        store.command(
            f"INSERT INTO {{db}}.spans_by_trace SELECT tenant, TraceId, SpanId, Timestamp, {SPAN_DOCUMENT} "
            f"FROM {{db}}.otel_traces {quote}"
        )
        documents = [d for (d,) in store.query("SELECT span FROM {db}.spans_by_trace")]
        assert len(documents) == 2 and all('"start_ns":"1790000000' in d for d in documents)
        assert trace_spans(store, "acme", [trace]) == plain
    finally:
        store.close()
