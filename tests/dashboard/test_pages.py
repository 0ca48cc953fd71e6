"""Each page's logic under Streamlit's AppTest, against a real server with a day of traffic.

Parts whose endpoints this server lacks (SLOs, KPIs, alerts, reconciliation: another issue's API)
must say "not available on this server" and leave the rest of the page working; where the server
has them, the tests check what they show instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from dashboard import data
from dashboard.client import Api, Connection, Failed, NotAvailable, Refused, Unreachable
from tests.conftest import ServerProcess, correlated, free_port, post_events, wait_for
from tests.dashboard import traffic
from tests.dashboard.conftest import OpenPage, open_app, page_file, served_paths

pytestmark = pytest.mark.slow


def reader_for(server: ServerProcess, tenant: str) -> Api:
    return Api(Connection(server.url, tenant=tenant))


def texts(elements: Any) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_executive_shows_the_funnel_and_degrades_without_kpis(
    dashboard: OpenPage, day_of_traffic: list[dict], api: httpx.Client, server: ServerProcess, tenant: str
) -> None:
    at = dashboard(page_file("executive"))
    assert "Orders by stage" in texts(at.subheader)
    assert at.get("plotly_chart"), "the funnel is drawn"
    if "/v1/kpis" in served_paths(api):
        assert len(at.metric) >= 4, "KPI tiles against their targets"
    else:
        assert "/v1/kpis is not available on the server" in texts(at.info)
        assert not at.metric

    # The funnel counts orders that reached each stage; twelve orders, two never accepted, one stuck
    # at allocated, one never scanned, one ending in a carrier exception.
    reader = reader_for(server, tenant)
    frame, _ = data.funnel(reader, data.Filters())
    reached = dict(zip(frame["stage"], frame["reached"], strict=True))
    assert reached["received"] == 12
    assert reached["accepted"] == reached["allocated"] == 10
    assert reached["manifested"] == 9
    assert reached["in_transit"] == 8
    assert reached["delivered"] == 7
    east, _ = data.funnel(reader, data.Filters(warehouse="dc-east"))
    assert east["reached"].iloc[0] == 6

    # Filters offer what the server has, most orders first; choosing one re-draws the page for it.
    options = data.filter_options(reader)
    assert options.journeys == 12
    assert options.values == {
        "channel": ["web", "edi"],
        "warehouse": ["dc-east", "dc-west"],
        "carrier": ["ups", "fedex"],
    }
    assert at.selectbox(key="exec_warehouse").options == ["all", "dc-east", "dc-west"]
    at.selectbox(key="exec_warehouse").select("dc-east").run()
    assert not at.exception


def test_operations_heatmap_counts_stuck_orders_and_drills_down(
    dashboard: OpenPage, day_of_traffic: list[dict], api: httpx.Client, server: ServerProcess, tenant: str
) -> None:
    heat = data.stuck_heatmap(reader_for(server, tenant))
    # Stuck: 10 and 11 at received (4 h), 9 at allocated (24 h), 8 manifested without a scan (24 h).
    assert sorted(heat.cells) == [
        ("allocated", "dc-east", 1),
        ("manifested", "dc-west", 1),
        ("received", "dc-east", 1),
        ("received", "dc-west", 1),
    ]
    assert heat.frame.loc["received", "dc-west"] == 1
    assert heat.frame.loc["manifested", "dc-east"] == 0

    at = dashboard(page_file("operations"))
    assert "Stuck orders" in texts(at.subheader)
    drill = at.selectbox(key="drill")
    assert len(drill.options) == 4
    manifested = next(i for i, label in enumerate(drill.options) if label.startswith("manifested"))
    at.selectbox(key="drill").set_value(manifested).run()
    frames = [df.value for df in at.dataframe if "stage" in df.value.columns]
    assert frames and list(frames[0]["stage"]) == ["manifested"]
    assert frames[0]["order"].iloc[0].startswith("order_trace?journey=order-")
    assert [m.value for m in at.metric if m.label == "Stuck orders"] == ["4"]

    paths = served_paths(api)
    for path in ("/v1/slos", "/v1/alerts", "/v1/reconciliation/inventory", "/v1/integration/failures"):
        if path not in paths:
            assert f"{path} is not available on the server" in texts(at.info)


def test_operations_reconciles_stock_and_counts_integration_failures_by_system(
    dashboard: OpenPage, api: httpx.Client, server: ServerProcess, tenant: str
) -> None:
    post_events(api, traffic.operations_faults())
    wait_for(lambda: correlated(api))
    paths = served_paths(api)
    at = dashboard(page_file("operations"))
    reader = reader_for(server, tenant)
    if "/v1/reconciliation/inventory" in paths:
        items, by_warehouse, total = data.inventory_mismatches(reader)
        assert total == 3 and sorted(items["sku"]) == ["SKU-1", "SKU-1", "SKU-2"]
        assert dict(zip(by_warehouse["warehouse"], by_warehouse["skus"], strict=True)) == {"dc-east": 2, "dc-west": 1}
        assert dict(zip(by_warehouse["warehouse"], by_warehouse["units"], strict=True)) == {"dc-east": 16, "dc-west": 2}
        assert any("SKU-2" in set(df.value.get("sku", [])) for df in at.dataframe)
    else:
        assert "/v1/reconciliation/inventory is not available on the server" in texts(at.info)
    if "/v1/integration/failures" in paths:
        frame, figure = data.integration_failures(reader)
        by_system = frame.groupby("system")[["failures", "retries", "dead_lettered"]].sum()
        assert by_system.loc["erp"].tolist() == [2, 1, 0]
        assert by_system.loc["shipstation"].tolist() == [1, 0, 1]
        assert {bar.name for bar in figure.data} == {"failures", "retries", "dead lettered"}
    else:
        assert "/v1/integration/failures is not available on the server" in texts(at.info)


def test_dead_letters_are_listed_and_a_replay_reports_its_outcome(
    dashboard: OpenPage, day_of_traffic: list[dict], server: ServerProcess, tenant: str
) -> None:
    items, total, _ = data.dead_letters(reader_for(server, tenant))
    assert total == 1 and items[0]["field"] == "time"
    at = dashboard(page_file("operations"))
    letters = [df.value for df in at.dataframe if "reason" in df.value.columns]
    assert letters and letters[0]["id"].iloc[0] == items[0]["id"]
    at.button(key="dl_replay").click().run()
    # Replayed unchanged, the event is still missing its time: the page says so and keeps the letter.
    assert "still rejected" in texts(at.error)
    with pytest.raises(Failed, match="still rejected"):
        data.replay(reader_for(server, tenant), items[0]["id"])


def test_order_trace_finds_an_order_by_its_tracking_number_and_marks_the_late_segment(
    dashboard: OpenPage, day_of_traffic: list[dict], server: ServerProcess, tenant: str
) -> None:
    at = dashboard(page_file("order_trace"), {"q": traffic.TRACKING_LATE})
    heading = texts(at.subheader)
    assert "Journey order-" in heading and "Segments against their thresholds" in heading
    assert "picked → manifested took 27.0 h against a threshold of 12 h" in texts(at.error)
    identifiers = at.table[0].value
    assert {"SO-5007", "#1007", traffic.TRACKING_LATE, "PK-7"} <= set(identifiers["identifier"])
    assert set(identifiers["from system"]) >= {"erp/netsuite", "shopify/acme", "shipping/shipstation"}
    assert not at.toggle(key="raw").value
    at.toggle(key="raw").set_value(True).run()
    assert at.json, "raw payloads on demand"

    matches = data.find(reader_for(server, tenant), traffic.TRACKING_LATE)
    assert len(matches) == 1
    j = data.journey(reader_for(server, tenant), matches[0].journey_id)
    frame = data.segments(j)
    late = frame[frame["late"]]
    assert list(late["segment"]) == ["picked → manifested"]
    assert list(late["lane"]) == [f"shipment {traffic.TRACKING_LATE}"]
    assert data.segments_figure(frame).data  # bars and threshold ticks

    # An open order's current stage runs until now, and is late once past its threshold.
    stuck = data.journey(reader_for(server, tenant), data.find(reader_for(server, tenant), "SO-5009")[0].journey_id)
    waiting = data.segments(stuck).iloc[-1]
    assert waiting["segment"] == "allocated → now (waiting)" and waiting["late"] and waiting["hours"] > 24

    # An order linked from the operations page opens by journey id.
    by_id = dashboard(page_file("order_trace"), {"journey": matches[0].journey_id})
    assert f"Journey {matches[0].journey_id}" in texts(by_id.subheader)


def test_order_trace_shows_the_spans_of_a_sync_step_beneath_its_milestone(
    dashboard: OpenPage, day_of_traffic: list[dict], api: httpx.Client
) -> None:
    accepted = next(e for e in day_of_traffic if e["id"] == "a7")
    if "/v1/traces" in served_paths(api):
        at_time = datetime.fromisoformat(accepted["time"].replace("Z", "+00:00"))
        posted = api.post("/v1/traces", json=traffic.step_spans("erp/netsuite", "a7", at_time, "netsuite-connector"))
        assert posted.status_code == 200, posted.text
    at = dashboard(page_file("order_trace"), {"q": "SO-5007"})
    titles = [e.label for e in at.expander]
    accepted_title = next(t for t in titles if "order.accepted" in t)
    if "/v1/traces" in served_paths(api):
        assert accepted_title.endswith("· 3 spans")
        frames = [df.value for df in at.dataframe if "span" in df.value.columns]
        assert sorted(frames[0]["name"]) == [
            "POST /record/v1/salesOrder",
            "POST /record/v1/salesOrder (retry)",
            "sync sales order",
        ]
        assert set(frames[0]["service"]) == {"netsuite-connector"}
    else:
        assert "spans" not in accepted_title
        assert "No spans linked to this milestone's event." in texts(at.caption)


def test_order_trace_says_what_to_do_when_nothing_or_several_match(dashboard: OpenPage, api: httpx.Client) -> None:
    at = dashboard(page_file("order_trace"))
    assert "Type an identifier" in texts(at.info)
    missing = dashboard(page_file("order_trace"), {"q": "SO-NOPE"})
    assert "No order, shipment or other object is known by `SO-NOPE`" in texts(missing.warning)

    # A product is context, in no order's journey: the page says so rather than "not found".
    post_events(
        api,
        [
            {
                "specversion": "1.0",
                "id": "reorder-1",
                "source": "erp/netsuite",
                "type": "inventory.reordered",
                "time": "2026-11-20T09:00:00Z",
                "data": {"objects": [{"type": "product", "ids": {"sku": "SKU-9"}}]},
            }
        ],
    )
    wait_for(lambda: correlated(api))
    product = dashboard(page_file("order_trace"), {"q": "SKU-9"})
    assert "`SKU-9` names product" in texts(product.info) and "belongs to no order's journey" in texts(product.info)

    # One carton holding two orders: its tracking number belongs to both journeys.
    carton = {"type": "shipment", "ids": {"tracking:ups": "1ZSHARED"}}
    events = [
        {
            "specversion": "1.0",
            "id": f"m{n}",
            "source": "shipping/shipstation",
            "type": "shipment.manifested",
            "time": "2026-11-20T10:00:00Z",
            "data": {"objects": [{"type": "order", "ids": {"erp": f"SO-{n}"}}, carton]},
        }
        for n in (1, 2)
    ]
    post_events(api, events)
    wait_for(lambda: correlated(api))
    several = dashboard(page_file("order_trace"), {"q": "1ZSHARED"})
    assert "belongs to 2 journeys" in texts(several.markdown)
    assert len(several.radio(key="trace_pick").options) == 2
    assert "Journey order-" in texts(several.subheader)


def test_an_empty_tenant_says_how_to_send_data(dashboard: OpenPage) -> None:
    at = dashboard(page_file("executive"))
    assert "tower simulate" in texts(at.info)
    ops = dashboard(page_file("operations"))
    assert "no order is waiting past its stage's threshold" in texts(ops.info)
    assert "No rejected input." in texts(ops.success)


def test_an_unreachable_api_names_the_url_and_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("TOWER_DASHBOARD_API", url)
    for page in ("executive", "operations", "order_trace"):
        at = open_app(page_file(page))
        message = texts(at.error)
        assert f"Cannot reach the Control Tower API at {url}" in message
        assert "tower serve" in message and "tower dashboard --api URL" in message
        assert not at.subheader, "nothing else is drawn"
    with pytest.raises(Unreachable):
        Api(Connection(url)).get("/v1/journeys")


def test_a_key_without_access_is_named(start_server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secured = start_server(env={"TOWER_API_KEYS": "reader-key=read,ingester=ingest"})
    monkeypatch.setenv("TOWER_DASHBOARD_API", secured.url)
    monkeypatch.setenv("TOWER_DASHBOARD_API_KEY", "ingester")
    at = open_app(page_file("executive"))
    assert "refused the dashboard" in texts(at.error) and "TOWER_DASHBOARD_API_KEY" in texts(at.error)
    with pytest.raises(Refused):
        Api(Connection(secured.url, api_key="wrong")).get("/v1/journeys")
    # A read key shows the pages; acting needs admin, and the refusal says so.
    reader = Api(Connection(secured.url, api_key="reader-key"))
    assert reader.get("/v1/journeys")["total"] == 0
    with pytest.raises(Refused, match="admin"):
        data.replay(reader, "no-such-letter")
    with pytest.raises(NotAvailable):
        reader.require("/v1/no-such-endpoint")


def test_alerts_can_be_acknowledged_and_silenced(
    dashboard: OpenPage, api: httpx.Client, server: ServerProcess, tenant: str
) -> None:
    post_events(api, traffic.acceptance_outage())
    wait_for(lambda: correlated(api))
    if "/v1/alerts" not in served_paths(api):
        at = dashboard(page_file("operations"))
        assert "/v1/alerts is not available on the server" in texts(at.info)
        return
    alerts = wait_for(lambda: data.active_alerts(reader_for(server, tenant)), timeout=60, interval=0.5)
    first = alerts[0]
    assert first["journeys"], "an alert lists the orders it is about"

    at = dashboard(page_file("operations"))
    assert at.selectbox(key="alert_pick").value["id"] == first["id"]  # firing first, pages before tickets
    links = [df.value for df in at.dataframe if list(df.value.columns) == ["order"]]
    assert links and links[0]["order"].iloc[0] == f"order_trace?journey={first['journeys'][0]}"
    at.text_input(key=f"by_{first['id']}").input("ops-lead")
    next(b for b in at.button if b.label == "Acknowledge" and b.form_id == f"act_{first['id']}").click().run()
    assert not at.exception
    acked = next(a for a in api.get("/v1/alerts").json()["items"] if a["id"] == first["id"])
    assert acked["acknowledged_by"] == "ops-lead"

    at.text_input(key=f"by_{first['id']}").input("ops-lead")
    next(
        b for b in at.button if b.label == "Silence alerts like it" and b.form_id == f"act_{first['id']}"
    ).click().run()
    assert not at.exception
    silences = api.get("/v1/silences").json()["items"]
    assert len(silences) == 1 and silences[0]["created_by"] == "ops-lead"
    assert {m["name"]: m["value"] for m in silences[0]["matchers"]} == first["labels"]


def test_drill_down_pages_through_a_cell_on_the_server(dashboard: OpenPage, api: httpx.Client) -> None:
    post_events(
        api,
        [
            {
                "specversion": "1.0",
                "id": f"late-{n}",
                "source": "shopify/acme",
                "type": "order.received",
                "time": f"2026-11-{10 + n % 10:02d}T08:{n % 60:02d}:00Z",
                "data": {
                    "objects": [{"type": "order", "ids": {"shopify/acme": f"#9{n:03d}"}}],
                    "dims": {"warehouse": "dc-north"},
                },
            }
            for n in range(60)
        ],
    )
    wait_for(lambda: correlated(api))
    at = dashboard(page_file("operations"))
    assert at.selectbox(key="drill").options == ["received · dc-north (60)"]

    def shown() -> list[str]:
        return next(list(df.value["order"]) for df in at.dataframe if "stage" in df.value.columns)

    first = shown()
    assert len(first) == 50 and "1–50 of 60, newest orders first." in texts(at.caption)
    at.button(key="drill_next").click().run()
    second = shown()
    assert len(second) == 10 and "51–60 of 60, newest orders first." in texts(at.caption)
    assert not set(first) & set(second)
    at.button(key="drill_prev").click().run()
    assert shown() == first
