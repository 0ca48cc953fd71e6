"""Carrier tracking API responses (UPS, FedEx, USPS, DHL, MyDHL, Australia Post, La Poste, Sendle).

One adapter per carrier, registered as `carrier-<name>` (`POST /v1/adapters/carrier-ups`): each
response shape is its own format, and a stable name per carrier beats sniffing the body or relying
on a header. Events come from `carrier/<name>` and name the parcel as
`{"type": "shipment", "ids": {"tracking:<name>": number}}` (both DHL APIs write `tracking:dhl`).
"""

from __future__ import annotations

from adapters.base import FunctionAdapter
from adapters.carriers.tracking import PARSERS, make_parser
from adapters.registry import ADAPTERS, register

for _carrier in PARSERS:
    if f"carrier-{_carrier}" not in ADAPTERS:
        register(
            FunctionAdapter(
                name=f"carrier-{_carrier}", content_types=("application/json",), function=make_parser(_carrier)
            )
        )
