"""Stream canonical events out of files: NDJSON line by line, a JSON array element by element.

Neither form is read whole into memory, so `tower import` handles files larger than RAM.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def open_maybe_gzip(path: Path) -> BinaryIO:
    handle = path.open("rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def iter_event_bytes(path: Path) -> Iterator[bytes]:
    """Each event's JSON bytes, from an NDJSON file or a file holding one JSON array (gzip or not)."""
    with open_maybe_gzip(path) as handle:
        head = b""
        while not head.strip():
            chunk = handle.read(CHUNK)
            if not chunk:
                return
            head += chunk
        stripped = head.lstrip()
        if stripped.startswith(b"["):
            yield from _array_elements(stripped[1:], handle)
        else:
            yield from _lines(head, handle)


def _lines(head: bytes, handle: BinaryIO) -> Iterator[bytes]:
    buffer = head
    while True:
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line.strip()
        chunk = handle.read(CHUNK)
        if not chunk:
            break
        buffer += chunk
    if buffer.strip():
        yield buffer.strip()


def _array_elements(rest: bytes, handle: BinaryIO) -> Iterator[bytes]:
    """Split a top-level JSON array into its elements by tracking strings and nesting depth.

    Each element comes out on one line (JSON strings cannot hold raw newlines, so the newlines
    of a pretty-printed element are whitespace), ready to be sent as NDJSON.
    """
    for element in _split_array(rest, handle):
        yield element.replace(b"\r", b" ").replace(b"\n", b" ")


def _split_array(rest: bytes, handle: BinaryIO) -> Iterator[bytes]:
    depth = 0
    in_string = escaped = False
    current = bytearray()
    buffer = rest
    while True:
        for byte in buffer:
            if in_string:
                current.append(byte)
                if escaped:
                    escaped = False
                elif byte == 0x5C:  # backslash
                    escaped = True
                elif byte == 0x22:
                    in_string = False
                continue
            if byte == 0x22:
                in_string = True
                current.append(byte)
            elif byte in (0x7B, 0x5B):  # { [
                depth += 1
                current.append(byte)
            elif byte in (0x7D, 0x5D):  # } ]
                if depth == 0:  # the closing bracket of the array
                    if bytes(current).strip():
                        yield bytes(current).strip()
                    return
                depth -= 1
                current.append(byte)
            elif byte == 0x2C and depth == 0:  # ,
                yield bytes(current).strip()
                current = bytearray()
            else:
                current.append(byte)
        buffer = handle.read(CHUNK)
        if not buffer:
            if bytes(current).strip():
                raise ValueError("the JSON array is not closed: the file ends inside it")
            return
