"""The price path inside a candle: the points the replay visits, in order.

Default (`auto`): open, then the extreme nearer the open, then the farther one, then close (a
tie goes to the low first). `ohlc` forces open, high, low, close; `olhc` open, low, high, close.
A tick is one point. Consecutive equal points are visited once: the model's outcome never
depends on seeing the same price twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

PathOrder = Literal["auto", "ohlc", "olhc"]
PATH_ORDERS: tuple[str, ...] = ("auto", "ohlc", "olhc")


def candle_points(
    o: Decimal, h: Decimal, low: Decimal, c: Decimal, order: PathOrder = "auto"
) -> list[Decimal]:
    """Return the path of one candle as distinct consecutive prices."""
    high_first = order == "ohlc" or (order == "auto" and h - o < o - low)
    raw = (o, h, low, c) if high_first else (o, low, h, c)
    points = [raw[0]]
    for price in raw[1:]:
        if price != points[-1]:
            points.append(price)
    return points
