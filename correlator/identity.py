"""How objects are named: ids minted from identifiers, and when two objects may become one.

An object's id is minted from one of its identifiers: the one seen earliest in event time (ties
broken by the minted id), so the same events give the same ids whatever order they arrive in, and
an order first known by its web-store number keeps that number's id when the ERP number joins.
"""

from __future__ import annotations

import hashlib


def mint_id(tenant: str, otype: str, namespace: str, value: str) -> str:
    """`<type>-<16 hex>`: stable for one (tenant, type, namespace, identifier), URL-safe, short."""
    digest = hashlib.blake2b(f"{tenant}\x1f{otype}\x1f{namespace}\x1f{value}".encode(), digest_size=8).hexdigest()
    return f"{otype}-{digest}"


def identifier_hash(tenant: str, otype: str, namespace: str, value: str) -> int:
    """64-bit fingerprint of one identifier of one object type in one tenant."""
    digest = hashlib.blake2b(f"{tenant}\x1f{otype}\x1f{namespace}\x1f{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def compatible(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two identifier sets can belong to one object: at most one identifier per namespace."""
    if len(a) > len(b):
        a, b = b, a
    return all(b.get(ns, value) == value for ns, value in a.items())


def clashes(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Namespaces in which the two identifier sets name different identifiers."""
    return sorted(ns for ns, value in a.items() if ns in b and b[ns] != value)
