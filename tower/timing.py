"""`Server-Timing` on every HTTP response: how long the server took, as the server measured it.

`Server-Timing: app;dur=12.3` (W3C Server Timing; browsers' developer tools show it next to the
request) is the time from the request's arrival in the application to the start of its response, in
milliseconds. What a client measures beyond it is the network, the HTTP stack and the client itself:
`bench/query.py` reports both, to tell the store's share of a page from the rest.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"server-timing"


class ServerTiming:
    """Pure ASGI middleware: it adds the header and nothing else (the body passes through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - began) * 1000:.1f}".encode()
                headers: list[Any] = [*message.get("headers", []), (HEADER, took)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


def server_ms(value: str | None) -> float | None:
    """The `app` duration (ms) of a `Server-Timing` header value, or None without one."""
    for metric in (value or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name == "app":
            for param in params:
                key, _, number = param.partition("=")
                if key.strip() == "dur":
                    try:
                        return float(number)
                    except ValueError:
                        return None
    return None
