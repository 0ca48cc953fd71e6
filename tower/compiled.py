"""The compiled speedups: the correlator's hot modules built with mypyc, and whether they are in use.

`setup.py` compiles `MODULES` when the project is installed (`./dev install`, `pip install`), each
into an extension module beside its source, as black and mypy ship themselves. The sources stay the
truth: the same code runs interpreted wherever the speedups are not in use, and gives the same
results (`tests/correlator/test_compiled.py` checks that on the OCEL log).

They are used only when every one of them is built and none is older than its source, so that an
edited module never runs as its stale build. Otherwise each runs from its source, and `STATUS` says
why (`tower serve` logs it at start). `TOWER_PURE_PYTHON=1` runs the sources anyway: for a profiler
that reads Python frames (py-spy does not see into compiled functions) or to rule the builds out.

Compiled modules are one group: they call each other natively, so it is all of them or none.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# The hot path of correlation, measured by `bench/ingest.py` (README, "Figures"). Pure functions and
# plain classes: no module here is subclassed, patched or introspected by code that is not compiled.
MODULES = (
    "correlator.identity",
    "correlator.model",
    "correlator.graph",
    "correlator.state",
    "tower.events",
)
# The group's code: the modules above are shims that load their part of it.
SHARED = "tower._speedups__mypyc"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Status:
    compiled: bool
    reason: str
    rebuild: bool = False  # builds exist but cannot run as they are (stale or partial): reinstalling fixes it


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def built_path(module: str, root: Path = ROOT) -> Path | None:
    """The extension module built for `module` beside where its source is, if any."""
    base = root.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.exists():
            return candidate
    return None


def decide(
    modules: Sequence[str] = MODULES, root: Path = ROOT, env: Mapping[str, str] | None = None, shared: str = SHARED
) -> Status:
    """Whether the builds of `modules` (and their `shared` code) under `root` may run, and why (not)."""
    env = os.environ if env is None else env
    if env.get("TOWER_PURE_PYTHON", "").strip().lower() in ("1", "true", "yes", "on"):
        return Status(False, "TOWER_PURE_PYTHON is set")
    parts = [*modules, shared]
    missing = [m for m in parts if built_path(m, root) is None]
    if len(missing) == len(parts):
        return Status(False, "not built (no C compiler at install, or TOWER_COMPILE=0)")
    if missing:
        return Status(False, f"partly built ({', '.join(missing)} missing); reinstall (./dev install)", rebuild=True)
    if (root / "pyproject.toml").exists():  # a source checkout, where sources get edited; not an installed wheel
        code = built_path(shared, root)
        assert code is not None
        built_at = code.stat().st_mtime
        stale = [m for m in modules if source_path(m, root).stat().st_mtime > built_at]
        if stale:
            reason = f"older than their sources ({', '.join(stale)}); reinstall (./dev install)"
            return Status(False, reason, rebuild=True)
    return Status(True, f"{len(modules)} modules compiled with mypyc")


class FromSource(importlib.abc.MetaPathFinder):
    """Imports `modules` from their `.py` sources even where an extension module sits beside them."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = frozenset(modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path or sys.path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.exists(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def _choose() -> Status:
    status = decide()
    built = any(built_path(m) is not None for m in MODULES)
    if not status.compiled and built and not any(isinstance(f, FromSource) for f in sys.meta_path):
        sys.meta_path.insert(0, FromSource(MODULES))
    return status


# Decided once, when `tower` is first imported: before any of `MODULES` can be (each imports `tower`
# or sits in `correlator`, whose package imports this first).
STATUS = _choose()


def in_use() -> dict[str, str]:
    """Which form of each module this process runs: 'compiled', 'source' or 'not loaded'."""
    forms = {}
    for name in MODULES:
        module = sys.modules.get(name)
        if module is None:
            forms[name] = "not loaded"
        else:
            forms[name] = "source" if (module.__file__ or "").endswith(".py") else "compiled"
    return forms
