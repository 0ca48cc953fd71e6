"""Carrier tracking API responses (UPS, FedEx, USPS, DHL, MyDHL, Australia Post, La Poste, Sendle).

One adapter, `tracking`, with the carrier named by the query (`POST /v1/adapters/tracking?carrier=ups`,
which the edge hands over as the `x-tower-param-carrier` header) or by an `X-Carrier` header: each
response shape is its own format, so the carrier is said, never sniffed. Events come from
`carrier/<name>` and name the parcel `{"type": "shipment", "ids": {"tracking:<name>": number}}`
(both DHL APIs write `tracking:dhl`).
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.base import AdapterError, AdapterResult, FunctionAdapter
from adapters.carriers.tracking import PARSERS, make_parser
from adapters.registry import ADAPTERS, register

_BY_CARRIER = {name: make_parser(name) for name in PARSERS}


def parse(body: bytes, headers: Mapping[str, str], secrets: Mapping[str, str]) -> AdapterResult:
    carrier = (headers.get("x-tower-param-carrier") or headers.get("x-carrier") or "").strip().lower()
    if not carrier:
        raise AdapterError("carrier", f"name the carrier: ?carrier= one of {', '.join(sorted(PARSERS))}")
    parser = _BY_CARRIER.get(carrier)
    if parser is None:
        raise AdapterError("carrier", f"carrier {carrier!r} is not supported; use one of {', '.join(sorted(PARSERS))}")
    return parser(body, headers, secrets)


if "tracking" not in ADAPTERS:
    register(FunctionAdapter(name="tracking", content_types=("application/json",), function=parse))
