"""The compiled speedups (`tower.compiled`): the same journeys compiled or not, and never a stale build.

The OCEL order-management log is correlated in two fresh interpreters, one running the sources
(`TOWER_PURE_PYTHON=1`) and one as installed (compiled wherever a C compiler was at install; this
suite then runs compiled too): their graphs and journey states must be the same, byte for byte.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tower import compiled
from tower.compiled import FromSource, Status, decide

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"

# Correlates the log with the graph and the journey state, then prints which form each module ran
# in and a digest of every journey's state, objects and events.
CORRELATE = """
import hashlib, sys
import orjson
from tower import compiled
from correlator.graph import JourneyGraph
from correlator.state import journey_state
from tests.support.ocel import OCEL_ORDER_MANAGEMENT, load_ocel, ocel_to_canonical
from tower.events import validate_event
from tower.settings import DEFAULT_OBJECT_LEVELS

graph = JourneyGraph(DEFAULT_OBJECT_LEVELS)
for seq, raw in enumerate(ocel_to_canonical(load_ocel(OCEL_ORDER_MANAGEMENT)), start=1):
    event, problems = validate_event(raw, "")
    assert event is not None, problems
    graph.apply(event, seq)
digest = hashlib.sha256()
for journey_id in sorted(graph.journeys):
    journey = graph.journeys[journey_id]
    objects = {o: graph.objects[o] for o in journey.objects if o in graph.objects}
    state = journey_state(journey_id, (graph.records[s] for s in journey.events), objects, graph.find)
    facts = [journey_id, sorted(objects), sorted(journey.events), state]
    digest.update(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS))
result = {"forms": compiled.in_use(), "journeys": len(graph.journeys), "digest": digest.hexdigest()}
print(orjson.dumps(result).decode())
"""


def correlate(pure: bool) -> dict[str, Any]:
    env = {**os.environ, "TOWER_PURE_PYTHON": "1" if pure else ""}
    done = subprocess.run(
        [sys.executable, "-c", CORRELATE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    import orjson

    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_log_correlates_the_same_compiled_and_from_source() -> None:
    source, installed = correlate(pure=True), correlate(pure=False)
    assert set(source["forms"].values()) == {"source"}
    expected = "compiled" if compiled.STATUS.compiled else "source"
    assert set(installed["forms"].values()) == {expected}
    assert source["journeys"] == installed["journeys"] == 2_000
    assert source["digest"] == installed["digest"]


def test_setup_builds_the_modules_the_package_names() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    (listed,) = (
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MODULES" for t in node.targets)
    )
    assert [p.removesuffix(".py").replace("/", ".") for p in listed] == list(compiled.MODULES)


def tree(root: Path, built: dict[str, float], sources: dict[str, float]) -> Path:
    """A checkout under `root`: sources and builds with these modification times."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    for names, suffix in ((sources, ".py"), (built, SUFFIX)):
        for name, mtime in names.items():
            path = root.joinpath(*name.split(".")).with_name(name.rpartition(".")[2] + suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
            os.utime(path, (mtime, mtime))
    return root


MODS = ("pkg.a", "pkg.b")
SHARED = "pkg._shared__mypyc"


def status(root: Path, env: dict[str, str] | None = None) -> Status:
    return decide(MODS, root, env or {}, shared=SHARED)


def test_a_build_runs_only_whole_and_newer_than_its_sources(tmp_path: Path) -> None:
    sources = {"pkg.a": 100.0, "pkg.b": 100.0}
    fresh = tree(tmp_path / "fresh", {"pkg.a": 200.0, "pkg.b": 200.0, SHARED: 200.0}, sources)
    assert status(fresh) == Status(True, "2 modules compiled with mypyc")
    assert status(fresh, {"TOWER_PURE_PYTHON": "1"}) == Status(False, "TOWER_PURE_PYTHON is set")

    none = tree(tmp_path / "none", {}, sources)
    assert not status(none).compiled and not status(none).rebuild  # no compiler: nothing to redo

    partial = tree(tmp_path / "partial", {"pkg.a": 200.0, "pkg.b": 200.0}, sources)
    assert status(partial).reason.startswith(f"partly built ({SHARED} missing)")
    assert status(partial).rebuild

    # b edited after the build: its build would run the old code, so none of the group runs
    stale = tree(tmp_path / "stale", {"pkg.a": 200.0, "pkg.b": 200.0, SHARED: 200.0}, {"pkg.a": 100.0, "pkg.b": 300.0})
    assert status(stale).reason.startswith("older than their sources (pkg.b)")
    assert status(stale).rebuild

    # installed (no pyproject.toml beside the packages): nobody edits those, the build is trusted
    (stale / "pyproject.toml").unlink()
    assert status(stale).compiled


def test_a_module_not_run_compiled_is_imported_from_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg_fromsource"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("FORM = 'source'\n")
    (package / f"mod{SUFFIX}").write_bytes(b"not an extension module")  # importing it would fail
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [FromSource(["pkg_fromsource.mod"]), *sys.meta_path])
    try:
        import pkg_fromsource.mod as mod

        assert mod.FORM == "source" and mod.__file__.endswith("mod.py")
    finally:
        for name in ("pkg_fromsource.mod", "pkg_fromsource"):
            sys.modules.pop(name, None)
