"""Declarative mappings: any ERP or WMS that sends JSON or CSV, added with a YAML file, not code.

Every mapping registers as the adapter `mapping/<name>` (`POST /v1/adapters/mapping/erpnext-sales-order`):

- the mappings shipped in `adapters/mapping/mappings/*.yaml`;
- every `*.yaml` in the folder `$TOWER_MAPPINGS_DIR`, when set, read once when this package is
  imported (the registry is filled at start-up; the folder is only read, never written, and a
  change takes effect at the next start). A malformed file stops the start with a `MappingError`
  naming the file and the key; a name already taken raises `ValueError`.

The schema is described in `adapters/mapping/README.md`. In code: `MappingAdapter(load_mapping(text))`.
"""

from __future__ import annotations

from pathlib import Path

from adapters.mapping.engine import MappingAdapter
from adapters.mapping.spec import Mapping, MappingError, load_mapping
from adapters.registry import ADAPTERS, register
from tower.settings import load_settings

__all__ = ["MAPPINGS_DIR", "SHIPPED", "Mapping", "MappingAdapter", "MappingError", "load_folder", "load_mapping"]

SHIPPED: Path = Path(__file__).resolve().parent / "mappings"
MAPPINGS_DIR = "TOWER_MAPPINGS_DIR"


def load_folder(folder: Path) -> list[Mapping]:
    """Every `*.yaml` of `folder`, by file name; a bad file raises `MappingError` naming it."""
    mappings: list[Mapping] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            mappings.append(load_mapping(path.read_text(encoding="utf-8")))
        except MappingError as exc:
            raise MappingError(exc.key, f"{exc.reason} (in {path})") from None
    return mappings


def _register_all() -> None:
    folders = [SHIPPED]
    extra = load_settings().mappings_dir
    if extra is not None:
        if not extra.is_dir():
            raise MappingError("", f"{MAPPINGS_DIR}={str(extra)!r} is not a folder")
        folders.append(extra)
    for folder in folders:
        for mapping in load_folder(folder):
            adapter = MappingAdapter(mapping)
            if folder == SHIPPED and adapter.name in ADAPTERS:
                continue  # already registered (the package imported twice under test tools)
            register(adapter)


_register_all()
