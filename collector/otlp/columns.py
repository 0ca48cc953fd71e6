"""Arrow columns built flat (values and offsets), as the OTLP row builders need them.

Building `Map(String, String)` and `Array(…)` columns from Python lists of pairs makes pyarrow
convert one object at a time; keys, values and offsets in flat lists convert in bulk (measured:
the row builder ran about 1.5x faster).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


class MapColumn:
    """A Map(String, String) column built flat (keys, values, offsets): far cheaper than Python pairs."""

    __slots__ = ("keys", "offsets", "values")

    def __init__(self) -> None:
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str] = []

    def add(self, mapping: dict[str, str]) -> None:
        if mapping:
            self.keys.extend(mapping)
            self.values.extend(mapping.values())
        self.offsets.append(len(self.keys))

    def array(self) -> pa.Array:
        return pa.MapArray.from_arrays(
            pa.array(self.offsets, pa.int32()), pa.array(self.keys, pa.string()), pa.array(self.values, pa.string())
        )


class ListColumn:
    """An Array(T) column (a Nested subcolumn) built flat: items and offsets."""

    __slots__ = ("items", "kind", "offsets")

    def __init__(self, kind: pa.DataType) -> None:
        self.offsets = [0]
        self.kind = kind
        self.items: list[Any] = []

    def close(self, count: int) -> None:
        self.offsets.append(self.offsets[-1] + count)

    def array(self) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), pa.array(self.items, self.kind))


class MapListColumn:
    """An Array(Map(String, String)) column built flat."""

    __slots__ = ("items", "offsets")

    def __init__(self) -> None:
        self.offsets = [0]
        self.items = MapColumn()

    def close(self, count: int) -> None:
        self.offsets.append(self.offsets[-1] + count)

    def array(self) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), self.items.array())
