"""Shopify webhooks: `POST /v1/adapters/shopify` with Shopify's own headers (see `webhooks`)."""

from __future__ import annotations

from adapters.base import FunctionAdapter
from adapters.registry import ADAPTERS, register
from adapters.shopify.webhooks import parse

if "shopify" not in ADAPTERS:
    register(FunctionAdapter(name="shopify", content_types=("application/json",), function=parse))
