"""`POST /v1/adapters/{adapter}`: the edge that hands native payloads to the adapters."""

from __future__ import annotations

import httpx


def test_an_unknown_adapter_is_a_404_that_lists_the_known_ones(api: httpx.Client) -> None:
    response = api.post("/v1/adapters/sap-idoc", content=b"<IDOC/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_adapter"
    assert "no adapter 'sap-idoc'" in error["message"]
