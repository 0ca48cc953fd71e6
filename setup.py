"""Builds the compiled speedups (`tower.compiled.MODULES`, with mypyc); everything else is in pyproject.toml.

Set TOWER_COMPILE=0 to install without them. Without a C compiler each build fails alone and the
install goes on: those modules then run from their sources, as `tower.compiled.STATUS` reports.
"""

import os
import sys

from setuptools import setup

# Kept equal to tower.compiled.MODULES (tests/correlator/test_compiled.py checks): setup.py cannot
# import the package it builds.
MODULES = [
    "correlator/identity.py",
    "correlator/model.py",
    "correlator/graph.py",
    "correlator/state.py",
    "tower/events.py",
]


def ext_modules() -> list:
    if os.environ.get("TOWER_COMPILE", "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("mypyc is not installed: the compiled speedups are not built", file=sys.stderr)
        return []
    # Type-checked alone, with only what the build environment has: third-party imports are Any here.
    options = ["--config-file=", "--ignore-missing-imports", "--python-version=3.11"]
    # The group's code goes in the tower package (tower/_speedups__mypyc.*.so), where an editable
    # install finds it: a top-level module would be found only from the project's directory.
    extensions = mypycify(options + MODULES, opt_level="3", group_name="tower._speedups")
    for extension in extensions:
        extension.optional = True  # no compiler: skip it, the source runs
    return extensions


setup(ext_modules=ext_modules())
