"""Outcome counts of the fuzz tests, printed at the end of a run (the figures in docs/reliability/fuzzing.md)."""

from __future__ import annotations

from collections import Counter

import pytest

OUTCOMES: Counter[tuple[str, str]] = Counter()
"""(surface, outcome) → examples: outcome is "events" (valid events out) or "refused" (a typed error)."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not OUTCOMES:
        return
    terminalreporter.section("fuzzing outcomes")
    for surface in sorted({s for s, _ in OUTCOMES}):
        counts = {outcome: n for (s, outcome), n in OUTCOMES.items() if s == surface}
        total = sum(counts.values())
        detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{surface:40} {total:7} examples: {detail}")
