"""Every adapter by the name used in `POST /v1/adapters/{adapter}`."""

from __future__ import annotations

from adapters.base import Adapter

ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    if adapter.name in ADAPTERS:
        raise ValueError(f"two adapters are named {adapter.name!r}")
    ADAPTERS[adapter.name] = adapter
    return adapter


def load_all() -> dict[str, Adapter]:
    """Import every adapter package so each registers itself; return the registry."""
    import importlib
    import pkgutil

    import adapters

    for module in pkgutil.iter_modules(adapters.__path__):
        if module.ispkg:
            importlib.import_module(f"adapters.{module.name}")
    return ADAPTERS
