"""Declarative mappings: any ERP or WMS that sends JSON or CSV, added with a YAML file, not code.

Every mapping registers as the adapter `mapping/<name>` (`POST /v1/adapters/mapping/erpnext-sales-order`):

- the mappings shipped in `adapters/mapping/mappings/*.yaml`;
- every `*.yaml` in the folder `$TOWER_MAPPINGS_DIR`, when set, read when the server starts
  (`register_folder`, called by `adapters.registry.load_all`; never at import, so a bad folder
  cannot break `tower --help` or an import). The folder is only read, never written, and a change
  takes effect at the next start. A malformed file stops the start with a `MappingError` naming
  the file and the key; a name already taken by another adapter raises `ValueError`.

The schema is described in `adapters/mapping/README.md`. In code: `MappingAdapter(load_mapping(text))`.
"""

from __future__ import annotations

from pathlib import Path

from adapters.mapping.engine import MappingAdapter
from adapters.mapping.spec import Mapping, MappingError, load_mapping
from adapters.registry import ADAPTERS, register

__all__ = [
    "MAPPINGS_DIR",
    "SHIPPED",
    "Mapping",
    "MappingAdapter",
    "MappingError",
    "load_folder",
    "load_mapping",
    "register_folder",
]

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


def register_folder(folder: Path) -> list[str]:
    """Register every mapping of `folder` (all or none); return their adapter names.

    A mapping already registered from this very text (the server started twice in one interpreter)
    is left as it is; another adapter of the same name is a `ValueError` naming the mapping and folder.
    """
    if not folder.is_dir():
        raise MappingError("", f"{MAPPINGS_DIR}={str(folder)!r} is not a folder")
    adapters = [MappingAdapter(mapping) for mapping in load_folder(folder)]
    new = []
    for adapter in adapters:
        known = ADAPTERS.get(adapter.name)
        if known is None:
            new.append(adapter)
        elif not (isinstance(known, MappingAdapter) and known.mapping == adapter.mapping):
            raise ValueError(f"the mapping {adapter.name!r} in {folder} is named like an adapter already registered")
    for adapter in new:
        register(adapter)
    return [a.name for a in adapters]


def _register_shipped() -> None:
    for mapping in load_folder(SHIPPED):
        adapter = MappingAdapter(mapping)
        if adapter.name not in ADAPTERS:  # the package imported twice under test tools
            register(adapter)


_register_shipped()
