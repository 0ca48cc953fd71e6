"""Dead letters replay through intake once what rejected them is fixed, and only once."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import httpx
import orjson

from tests.conftest import ServerProcess, correlated, wait_for
from tests.support.ocel import FIXTURES


def test_a_webhook_refused_for_a_misconfigured_secret_replays_once(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(env={"TOWER_SHOPIFY_WEBHOOK_SECRET": "stale-secret"})
    body = (FIXTURES / "shopify/shopify_python_api/order.json").read_bytes()
    signature = base64.b64encode(hmac.new(b"the-real-secret", body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-Webhook-Id": "wh-replay-1",
        "X-Shopify-Hmac-SHA256": signature,
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        refused = client.post("/v1/adapters/shopify", content=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["details"][0]["field"] == "X-Shopify-Hmac-SHA256"
        (letter,) = client.get("/v1/dead-letters").json()["items"]
        assert letter["endpoint"] == "/v1/adapters/shopify" and letter["replayed_at"] is None

        replayed = client.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["accepted"] == 1
        wait_for(lambda: correlated(client))
        assert client.get("/v1/lookup", params={"q": "#1001"}).json()["matches"]
        assert wait_for(lambda: client.get("/v1/dead-letters").json()["items"][0]["replayed_at"])
        again = client.post(f"/v1/dead-letters/{letter['id']}/replay")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_replayed"


def test_an_event_that_is_still_invalid_stays_a_dead_letter(api: httpx.Client) -> None:
    bad = {
        "specversion": "1.0",
        "id": "replay-2",
        "source": "shop",
        "type": "Order.Received",
        "time": "2026-11-20T10:00:00Z",
        "data": {"objects": []},
    }
    assert (
        api.post("/v1/events", content=orjson.dumps(bad), headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    (letter,) = api.get("/v1/dead-letters").json()["items"]
    still = api.post(f"/v1/dead-letters/{letter['id']}/replay")
    assert still.status_code == 400
    assert still.json()["error"]["code"] == "still_invalid"
    assert api.post("/v1/dead-letters/no-such-letter/replay").status_code == 404


def test_tower_replay_reports_each_letter(server: ServerProcess) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    result = subprocess.run(
        [sys.executable, "-m", "tower.cli", "replay", "no-such-letter", "--url", server.url, "--tenant", "nobody"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no-such-letter: 404 no dead letter 'no-such-letter' in this tenant" in result.stderr
