"""Signed webhooks on a real server: signatures compared in constant time, and a captured delivery
replayed is refused — by its signed timestamp where the provider signs one (EasyPost's
X-Hmac-Signature-V2 over X-Timestamp + method + X-Path + body, against the tower's clock and
TOWER_WEBHOOK_TOLERANCE_S), by its signed body where it does not (Shopify).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.registry import load_all
from tests.conftest import ServerProcess, correlated, wait_for
from tests.support.ocel import FIXTURES

pytestmark = pytest.mark.slow

CLOCK = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EASYPOST_SECRET = "made-up-ëasypost-secret"
SHOPIFY_SECRET = "made-up-shopify-secret"
EASYPOST_BODY = (FIXTURES / "carrier" / "easypost-examples" / "event-body.json").read_bytes().rstrip(b"\n")
SHOPIFY_ORDER = (FIXTURES / "shopify" / "shopify_python_api" / "order.json").read_bytes()
PATH = "/v1/adapters/easypost"


def easypost_v2(body: bytes, at: datetime, secret: str = EASYPOST_SECRET) -> dict[str, str]:
    """Headers as EasyPost sends them: X-Timestamp in RFC 2822, the V2 signature over it, method, path and body."""
    import unicodedata

    stamp = format_datetime(at.astimezone(UTC)).replace("+0000", "-0000")
    key = unicodedata.normalize("NFKD", secret).encode()
    v2 = hmac.new(key, stamp.encode() + b"POST" + PATH.encode() + body, hashlib.sha256).hexdigest()
    v1 = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Hmac-Signature": f"hmac-sha256-hex={v1}",
        "X-Hmac-Signature-V2": f"hmac-sha256-hex={v2}",
        "X-Timestamp": stamp,
        "X-Path": PATH,
    }


def shopify(body: bytes, webhook_id: str) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "acme-eu.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-SHA256": digest,
    }


@pytest.fixture(scope="module")
def tower(start_module_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_module_server(
        env={
            "TOWER_EASYPOST_WEBHOOK_SECRET": EASYPOST_SECRET,
            "TOWER_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET,
            "TOWER_CLOCK": CLOCK.isoformat(),
            "TOWER_SLO_ENGINE": "false",
        }
    )


@pytest.fixture
def client(tower: ServerProcess, tenant: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tower.url, headers={"X-Tower-Tenant": tenant}, timeout=60) as c:
        yield c


def move_clock(tower: ServerProcess, to: datetime) -> None:
    moved = httpx.post(f"{tower.url}/v1/admin/clock", json={"now": to.isoformat()}, timeout=30)
    assert moved.status_code == 200, moved.text


def error_of(response: httpx.Response) -> dict[str, Any]:
    return dict(response.json()["error"])


def test_easypost_delivery_within_the_tolerance_is_accepted_once_and_refused_once_stale(
    tower: ServerProcess, client: httpx.Client
) -> None:
    now = datetime.fromisoformat(client.get("/v1/admin/clock").json()["now"].replace("Z", "+00:00"))
    headers = easypost_v2(EASYPOST_BODY, now - timedelta(seconds=30))
    first = client.post(PATH, content=EASYPOST_BODY, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 1
    again = client.post(PATH, content=EASYPOST_BODY, headers=headers)  # EasyPost retrying: a duplicate
    assert again.status_code == 202 and again.json()["duplicates"] == 1
    move_clock(tower, now + timedelta(minutes=6))
    replayed = client.post(PATH, content=EASYPOST_BODY, headers=headers)
    assert replayed.status_code == 401, replayed.text
    error = error_of(replayed)
    assert error["details"][0]["field"] == "X-Timestamp"
    assert "TOWER_WEBHOOK_TOLERANCE_S" in error["message"] and "replay" in error["message"]


def test_easypost_timestamp_is_signed(client: httpx.Client) -> None:
    now = datetime.fromisoformat(client.get("/v1/admin/clock").json()["now"].replace("Z", "+00:00"))
    headers = easypost_v2(EASYPOST_BODY, now - timedelta(hours=2))
    headers["X-Timestamp"] = format_datetime(now).replace("+0000", "-0000")  # freshened, not re-signed
    refused = client.post(PATH, content=EASYPOST_BODY, headers=headers)
    assert refused.status_code == 401
    assert error_of(refused)["details"][0]["field"] == "X-Hmac-Signature-V2"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("future", "X-Timestamp"),
        ("v1 only", "X-Hmac-Signature-V2"),
        ("no timestamp", "X-Timestamp"),
        ("wrong secret", "X-Hmac-Signature-V2"),
        ("tampered body", "X-Hmac-Signature-V2"),
    ],
)
def test_easypost_deliveries_refused(client: httpx.Client, change: str, field: str) -> None:
    now = datetime.fromisoformat(client.get("/v1/admin/clock").json()["now"].replace("Z", "+00:00"))
    body = EASYPOST_BODY
    headers = easypost_v2(body, now + timedelta(minutes=10) if change == "future" else now)
    if change == "v1 only":
        for name in ("X-Hmac-Signature-V2", "X-Timestamp", "X-Path"):
            headers.pop(name)
    elif change == "no timestamp":
        headers.pop("X-Timestamp")
    elif change == "wrong secret":
        headers = easypost_v2(body, now, secret="another-secret")
    elif change == "tampered body":
        body = body.replace(b"evt_1", b"evt_2")
    refused = client.post(PATH, content=body, headers=headers)
    assert refused.status_code == 401, refused.text
    assert error_of(refused)["details"][0]["field"] == field


def test_shopify_body_replayed_under_another_webhook_id_is_refused(client: httpx.Client, tenant: str) -> None:
    body = SHOPIFY_ORDER.replace(b'"#1001"', f'"#{tenant}"'.encode())  # this test's own order number
    first = client.post("/v1/adapters/shopify", content=body, headers=shopify(body, f"{tenant}-wh-1"))
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 1
    # Shopify retrying the same delivery (its id, its body): acknowledged again, stored once
    retry = client.post("/v1/adapters/shopify", content=body, headers=shopify(body, f"{tenant}-wh-1"))
    assert retry.status_code == 202 and retry.json()["duplicates"] == 1
    # the captured body under a fresh id would be a new event: refused
    replay = client.post("/v1/adapters/shopify", content=body, headers=shopify(body, f"{tenant}-wh-2"))
    assert replay.status_code == 409, replay.text
    error = error_of(replay)
    assert error["code"] == "replayed_delivery"
    assert f"{tenant}-wh-1" in error["message"] and "replay" in error["message"]
    # another signed body under an id already used
    other = json.loads(body)
    other["order"]["note"] = "changed"
    changed = json.dumps(other).encode()
    reused = client.post("/v1/adapters/shopify", content=changed, headers=shopify(changed, f"{tenant}-wh-1"))
    assert reused.status_code == 409 and error_of(reused)["code"] == "replayed_delivery"
    # nothing of the refused deliveries was stored
    wait_for(lambda: correlated(client), timeout=30)
    journeys = client.get("/v1/lookup", params={"q": f"#{tenant}"}).json()["matches"]
    assert len(journeys) == 1


def test_a_replay_racing_its_original_is_refused(tower: ServerProcess, tenant: str) -> None:
    """The same signed body under two ids at the same instant: one is accepted, the other refused."""
    body = SHOPIFY_ORDER.replace(b'"#1001"', f'"#{tenant}"'.encode())

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=tower.url, headers={"X-Tower-Tenant": tenant}, timeout=60) as c:
            sent = [
                c.post("/v1/adapters/shopify", content=body, headers=shopify(body, f"{tenant}-{i}")) for i in range(4)
            ]
            return sorted(r.status_code for r in await asyncio.gather(*sent))

    assert asyncio.run(race()) == [202, 409, 409, 409]


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    adapters = load_all()
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    at = CLOCK
    easypost_headers = {k.lower(): v for k, v in easypost_v2(EASYPOST_BODY, at).items()}
    adapters["easypost"].parse(EASYPOST_BODY, easypost_headers, {"easypost": EASYPOST_SECRET})
    shopify_headers = {k.lower(): v for k, v in shopify(SHOPIFY_ORDER, "wh").items()}
    adapters["shopify"].parse(SHOPIFY_ORDER, shopify_headers, {"shopify": SHOPIFY_SECRET})
    assert len(compared) == 2, "each adapter compares its signature with hmac.compare_digest"


def test_the_ledger_outlives_a_restart(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    """The replay check reads fingerprints of the ledger kept in memory: a restarted server loads
    them from the store, so a body accepted before the restart is still refused under a new id."""
    env = {"TOWER_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET, "TOWER_SLO_ENGINE": "false"}
    body = SHOPIFY_ORDER.replace(b'"#1001"', b'"#restart-1"')
    first = start_server(tmp_path / "store", env)
    with httpx.Client(base_url=first.url, timeout=60) as c:
        assert c.post("/v1/adapters/shopify", content=body, headers=shopify(body, "wh-before")).status_code == 202
    first.kill()  # acknowledged means recorded: no clean shutdown needed
    again = start_server(tmp_path / "store", env)
    with httpx.Client(base_url=again.url, timeout=60) as c:
        retry = c.post("/v1/adapters/shopify", content=body, headers=shopify(body, "wh-before"))
        assert retry.status_code == 202 and retry.json()["duplicates"] == 1
        replay = c.post("/v1/adapters/shopify", content=body, headers=shopify(body, "wh-after"))
        assert replay.status_code == 409 and "wh-before" in error_of(replay)["message"]
        fresh = SHOPIFY_ORDER.replace(b'"#1001"', b'"#restart-2"')
        assert c.post("/v1/adapters/shopify", content=fresh, headers=shopify(fresh, "wh-new")).status_code == 202
