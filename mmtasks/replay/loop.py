"""Walk a series through the engine: the plain loop visits every point of every row."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np

from mmtasks.replay.engine import Engine
from mmtasks.replay.feed import KEPT_EXTRA, CandleFeed, interval_ms
from mmtasks.replay.path import PathOrder, candle_points
from mmtasks.replay.series import Series


class Gate(Protocol):
    """Which points the walk may skip (the fast path); the plain loop has none."""

    def skip(self, price: Decimal, closing: bool) -> bool:
        """Return True when visiting price would change nothing."""

    def stepped(self) -> None:
        """Hear that the engine visited a point."""


@dataclass
class Walk:
    """A series bound to an engine: visits one row at a time, with the candles it implies."""

    engine: Engine
    data: Series
    order: PathOrder = "auto"

    def __post_init__(self) -> None:
        risk = self.engine.config.risk
        self.feed: CandleFeed | None = None
        if self.engine.config.needs_candles:
            keep = risk.average_window + KEPT_EXTRA
            self.feed = CandleFeed(self.data, keep, interval_ms(risk.kline_interval))
        diffs = np.diff(self.data.ts_ms[:1000])
        self.row_ms = int(np.median(diffs)) if len(diffs) else 60_000

    def points(self, j: int) -> list[Decimal]:
        """Return the prices row j puts on the path."""
        d = self.data
        if d.kind == "ticks":
            return [d.dec("close", j)]
        # The row's texts at once (a plain CSV's line split once), each parsed as dec() would:
        # a visited row is not visited again, so dec()'s per-cell cache would only fill up.
        o, h, low, c = d.texts(j)[:4]
        return candle_points(Decimal(o), Decimal(h), Decimal(low), Decimal(c), self.order)

    def point_ts(self, j: int, k: int, count: int) -> int:
        """Return the time of point k of row j's count points (a candle closes at its end)."""
        ts0 = int(self.data.ts_ms[j])
        last = count - 1
        if k == last:
            return ts0 + self.row_ms - 1 if self.data.kind == "candles" and last > 0 else ts0
        return ts0 + (self.row_ms * k) // max(count, 1)

    def visit(self, j: int, gate: Gate | None = None) -> None:
        """Step the engine through row j's points (the gate says which change nothing)."""
        points = self.points(j)
        last = len(points) - 1
        for k, price in enumerate(points):
            closing = k == last
            if gate is not None and gate.skip(price, closing):
                continue
            candles = () if self.feed is None else self.feed.at(j, closing)
            self.engine.step(j, self.point_ts(j, k, len(points)), price, candles)
            if gate is not None:
                gate.stepped()


def run_plain(walk: Walk) -> None:
    """Visit every row and every point: the reference the fast path must equal."""
    for j in range(len(walk.data)):
        walk.visit(j)
