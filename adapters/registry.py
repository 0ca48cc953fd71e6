"""Every adapter by the name used in `POST /v1/adapters/{adapter}`."""

from __future__ import annotations

from pathlib import Path

from adapters.base import Adapter

ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    if adapter.name in ADAPTERS:
        raise ValueError(f"two adapters are named {adapter.name!r}")
    ADAPTERS[adapter.name] = adapter
    return adapter


def load_all(mappings_dir: Path | None = None) -> dict[str, Adapter]:
    """Import every adapter package so each registers itself, then the declarative mappings of
    `mappings_dir` (`TOWER_MAPPINGS_DIR`); return the registry. A bad mapping file raises
    `MappingError` naming the file and the key."""
    import importlib
    import pkgutil

    import adapters
    from adapters.mapping import register_folder

    for module in pkgutil.iter_modules(adapters.__path__):
        if module.ispkg:
            importlib.import_module(f"adapters.{module.name}")
    if mappings_dir is not None:
        register_folder(mappings_dir)
    return ADAPTERS
