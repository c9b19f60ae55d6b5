"""GRID.md's case table through the real worker step (inbox, intents, executor, commit).

Each price is matched by the venue, its fills reach the step through the bridge's writer, and
the step decides until nothing changes: the outcome the table gives for the pure core.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.kit.configs import GRID, NEUTRAL
from tests.kit.desk import Desk

D = Decimal
B = "BUY"
S = "SELL"


@pytest.mark.parametrize(
    ("config", "path", "resting", "position", "realized"),
    [
        (NEUTRAL, ["100"], [(B, 80), (B, 90), (S, 110), (S, 120)], 0, 0),
        (GRID, ["100", "94"], [(B, 70), (B, 80), (B, 90)], 0, 0),
        (GRID, ["100", "89", "95"], [(B, 70), (B, 80), (S, 100)], 1, 0),
        (GRID, ["100", "89", "95", "100"], [(B, 70), (B, 80), (B, 90)], 0, 10),
        (GRID, ["100", "89", "79", "75", "69"], [(B, 50), (B, 60), (S, 80), (S, 90)], 3, 0),
        (GRID, ["100", "111"], [(B, 90), (B, 100)], 0, 0),
        (NEUTRAL, ["100", "111"], [(B, 90), (B, 100), (S, 120), (S, 130)], -1, 0),
        (NEUTRAL, ["100", "111", "95"], [(B, 80), (B, 90), (S, 100), (S, 110), (S, 120)], 0, 10),
    ],
)
def test_the_step_trades_the_case_table(
    desk: Desk,
    config: dict[str, Any],
    path: list[str],
    resting: list[tuple[str, int]],
    position: int,
    realized: int,
) -> None:
    desk.init(config)

    desk.trade(*path)

    assert desk.resting() == [(side, D(price)) for side, price in resting]
    pos = desk.position()
    assert (pos["qty"], pos["realized_pnl"]) == (position, realized)


def test_reduce_only_from_the_start_places_nothing(desk: Desk) -> None:
    desk.init(GRID)
    desk.command("safe_mode_on")

    desk.trade("100")

    assert desk.resting() == []
