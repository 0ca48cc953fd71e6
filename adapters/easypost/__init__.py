"""EasyPost tracker webhooks: `POST /v1/adapters/easypost` (see `webhooks`)."""

from __future__ import annotations

from adapters.base import FunctionAdapter
from adapters.easypost.webhooks import parse
from adapters.registry import ADAPTERS, register

if "easypost" not in ADAPTERS:
    register(FunctionAdapter(name="easypost", content_types=("application/json",), function=parse))
