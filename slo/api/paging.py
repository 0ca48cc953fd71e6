"""Keyset paging for lists computed in full per request (reconciliation lists, alerts).

A page is the items after the cursor in one total order; the cursor is the last item's sort key,
opaque to clients (`tower.api.page_cursor`). An item added or gone between two requests shifts no
other item across pages, as an offset would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tower.api import ApiError, page_cursor, read_cursor

Key = tuple[str | int | float, ...]


def page(
    items: Sequence[dict[str, Any]],
    key: Callable[[dict[str, Any]], Sequence[Any]],
    limit: int,
    cursor: str | None,
    max_limit: int = 10_000,
    descending: bool = False,
) -> dict[str, Any]:
    """`{"items", "total", "next"}` of the `limit` items after `cursor` in `key` order."""
    if not 1 <= limit <= max_limit:
        raise ApiError(400, "invalid_limit", f"limit must be between 1 and {max_limit}")
    keyed = sorted(((_norm(key(i)), i) for i in items), key=lambda ki: ki[0], reverse=descending)
    after = read_cursor(cursor)
    if after is not None:
        try:
            start = _norm(after)
            keyed = [(k, i) for k, i in keyed if (k < start if descending else k > start)]
        except TypeError:
            raise ApiError(400, "invalid_cursor", "cursor is not one this list returned; start again") from None
    chosen = keyed[:limit]
    nxt = page_cursor(list(chosen[-1][0])) if len(keyed) > limit else None
    return {"items": [i for _, i in chosen], "total": len(items), "next": nxt}


def _norm(values: Sequence[Any]) -> Key:
    """None sorts first as ''; numbers and strings stay as they are (a key keeps one type per position)."""
    out: list[str | int | float] = []
    for v in values:
        if v is None:
            out.append("")
        elif isinstance(v, bool):
            out.append(int(v))
        elif isinstance(v, int | float | str):
            out.append(v)
        else:
            out.append(str(v))
    return tuple(out)
