"""The regime stage: trend up, trend down or range, from the config's regime rules."""

from __future__ import annotations

from collections.abc import Mapping

from mmtasks.signal.rules import Condition, Row, holds

TREND_UP, TREND_DOWN, RANGE = "trend_up", "trend_down", "range"


def classify(rules: Mapping[str, tuple[Condition, ...]], row: Row, prev: Row | None) -> str:
    """Return the first regime (trend_up, then trend_down) whose conditions all hold, else range."""
    for name in (TREND_UP, TREND_DOWN):
        conds = rules.get(name)
        if conds and all(holds(c, row, prev) for c in conds):
            return name
    return RANGE
