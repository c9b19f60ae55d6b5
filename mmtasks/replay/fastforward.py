"""The fast path: jump to the next row that can change anything, run the exact core only there.

After each visited row the grid is settled, and `band.quiet_band` gives the exact price band
in which it would neither fill nor act. numpy then scans the float low/high columns for the
first row leaving that band (with a safety margin, so float rounding can only add candidates),
or a row whose candles change the volume monitor or the ATR interval. Floats only find the
candidates; every price the core sees is still the Decimal of the file's text, so the result is
identical to the plain loop (tests/replay/test_fastforward.py checks it on random paths).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from mmtasks.grid.band import Band, quiet_band
from mmtasks.grid.logic import Frame
from mmtasks.replay.engine import Config, Engine
from mmtasks.replay.firing import FiringRun, applies, skip_firing
from mmtasks.replay.loop import Walk
from mmtasks.replay.series import FloatArray, Series

WARM_EXTRA = 7  # rows after average_window still visited one by one
MARGIN = 1e-9  # relative: far above float rounding of a decimal text (1e-16)
FIRST_CHUNK = 256
STEPPED_TICKS = 64  # a bucket's first ticks are summed for all buckets at once, then each alone
BoolArray = npt.NDArray[np.bool_]


def _rolling_mean(values: FloatArray, window: int) -> FloatArray:
    # mean of values[j - window .. j - 1] at j (NaN while fewer than window). Each window is
    # summed on its own (relative error ~ window x 1e-16 for non-negative values): differences
    # of one running sum over a year would carry that sum's rounding, far above MARGIN.
    out = np.full(len(values), np.nan)
    if len(values) > window:
        sums = np.lib.stride_tricks.sliding_window_view(values, window).sum(axis=1)
        out[window:] = sums[:-1] / window
    return out


def _forming_sums(values: FloatArray, starts: npt.NDArray[np.int64]) -> FloatArray:
    # At each index, the sum of values from its bucket's start through it. Each bucket is summed
    # on its own, in order (relative error ~ its length x 1e-16 for non-negative values): the
    # difference of two running sums over a whole recording would carry their rounding.
    n = len(values)
    lengths = np.diff(np.append(starts, n))
    out = values.copy()
    k = 1
    while k < STEPPED_TICKS:  # the k-th tick of every bucket that long, all buckets at once
        alive = starts[lengths > k]
        if not len(alive):
            return out
        out[alive + k] += out[alive + k - 1]
        k += 1
    for start, length in zip(starts[lengths > k], lengths[lengths > k], strict=True):
        # out[start + k - 1] holds the sum so far; the rest of the bucket is still raw.
        out[start + k - 1 : start + length] = np.cumsum(out[start + k - 1 : start + length])
    return out


def _changes(value: npt.NDArray[np.int64], unsure: BoolArray) -> BoolArray:
    flag = np.zeros(len(value), dtype=bool)
    flag[1:] = (value[1:] != value[:-1]) | unsure[1:] | unsure[:-1]
    return flag


def _candle_features(
    data: Series, cfg: Config
) -> tuple[BoolArray, tuple[BoolArray, BoolArray] | None]:
    """Return the rows whose close may change the volume-spike flag or the ATR interval, and
    the rows whose close surely spikes and surely does not (None without the monitor)."""
    n = len(data)
    risk, st = cfg.risk, cfg.strategy
    w = risk.average_window
    flag = np.zeros(n, dtype=bool)
    flag[: w + WARM_EXTRA] = True  # the history is filling up: visit every row
    low, high, close = data.floats("low"), data.floats("high"), data.floats("close")
    verdicts: tuple[BoolArray, BoolArray] | None = None
    if risk.enable_volume_monitor:
        volume = data.floats("volume")
        limit = _rolling_mean(volume, w) * float(risk.volume_multiplier)
        avg_close = _rolling_mean(close, w)
        with np.errstate(invalid="ignore"):
            spike = (volume > limit) & (close < avg_close)
            unsure = (np.abs(volume - limit) <= MARGIN * (np.abs(limit) + 1e-12)) | (
                np.abs(close - avg_close) <= MARGIN * np.abs(avg_close)
            )
        flag |= _changes(spike.astype(np.int64), unsure)
        # Far from a tie the float verdict is the exact one; warm-up rows are never certain.
        sure = ~unsure
        sure[: w + WARM_EXTRA] = False
        verdicts = (spike & sure, ~spike & sure)
    if st.atr_scale > 0:
        prev = np.concatenate(([np.nan], close[:-1]))
        with np.errstate(invalid="ignore"):
            tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
        ticks = _rolling_mean(tr, w) * float(st.atr_scale) / float(cfg.rules.tick_size)
        frac = ticks - np.floor(ticks)
        unsure = np.abs(frac - 0.5) <= MARGIN * (np.abs(ticks) + 1)
        base = float(max(cfg.strategy.interval, cfg.rules.tick_size) / cfg.rules.tick_size)
        steps = np.fmax(np.nan_to_num(np.floor(ticks + 0.5), nan=0.0), round(base))
        flag |= _changes(steps.astype(np.int64), unsure)
    return flag, verdicts


def _tick_features(walk: Walk, cfg: Config) -> BoolArray:
    """Return the ticks at which the core's candles may change what it decides."""
    data = walk.data
    n = len(data)
    flag = np.zeros(n, dtype=bool)
    feed = walk.feed
    if feed is None:
        return flag
    flag[feed.starts] = True  # a candle closes: history (ATR, averages) moves
    if cfg.risk.enable_volume_monitor and feed.has_volume:
        volume = data.floats("volume")
        buckets = np.add.reduceat(volume, feed.starts)
        limit = _rolling_mean(buckets, cfg.risk.average_window) * float(cfg.risk.volume_multiplier)
        which = np.searchsorted(feed.starts, np.arange(n), side="right") - 1
        forming = _forming_sums(volume, feed.starts)
        with np.errstate(invalid="ignore"):
            flag |= forming >= limit[which] * (1 - MARGIN)
    return flag


class Screen:
    """Finds the next row that leaves a band or changes the candles' verdicts."""

    def __init__(self, walk: Walk) -> None:
        data, cfg = walk.data, walk.engine.config
        self.low, self.high = data.floats("low"), data.floats("high")
        # Rows whose close surely spikes, and surely not: where a firing may be one step.
        self._last_bounds: tuple[Band, tuple[float, float]] | None = None
        self.spiking: BoolArray | None = None
        self.calm: BoolArray | None = None
        if walk.feed is None:
            self.features = np.zeros(len(data), dtype=bool)
        elif data.kind == "candles":
            self.features, verdicts = _candle_features(data, cfg)
            if verdicts is not None:
                self.spiking, self.calm = verdicts
        else:
            self.features = _tick_features(walk, cfg)

    def _bounds(self, band: Band) -> tuple[float, float]:
        # The band narrowed by the margin: a float inside it is an exact price inside band.
        last = self._last_bounds
        if last is not None and last[0] is band:
            return last[1]
        lo = -math.inf if band.lo is None else float(band.lo)
        hi = math.inf if band.hi is None else float(band.hi)
        lo += abs(lo) * MARGIN if math.isfinite(lo) else 0.0
        hi -= abs(hi) * MARGIN if math.isfinite(hi) else 0.0
        self._last_bounds = (band, (lo, hi))  # the band is frozen: same object, same bounds
        return lo, hi

    def inside(self, j: int, band: Band) -> bool:
        """Return True when every point of row j surely lies inside band."""
        lo, hi = self._bounds(band)
        return bool(self.low[j] > lo and self.high[j] < hi)

    def firing_end(self, j: int, band: Band) -> int | None:
        """Return k when the monitor surely turns on at row j's close and off at row k's, with
        every point of rows j..k inside band; None otherwise."""
        if self.spiking is None or self.calm is None or not self.spiking[j]:
            return None
        if not self.inside(j, band):
            return None
        k = self.next_row(j + 1, band)
        if k >= len(self.low) or not self.calm[k] or not self.inside(k, band):
            return None
        return k

    def next_row(self, start: int, band: Band) -> int:
        """Return the first row >= start that leaves band or is a feature row (len if none)."""
        n = len(self.low)
        lo, hi = self._bounds(band)
        if start < n and (self.features[start] or self.low[start] <= lo or self.high[start] >= hi):
            return start  # often the very next row (a spike's end): no chunk to scan
        chunk = FIRST_CHUNK
        while start < n:
            stop = min(n, start + chunk)
            hit = (
                (self.low[start:stop] <= lo)
                | (self.high[start:stop] >= hi)
                | self.features[start:stop]
            )
            found = np.flatnonzero(hit)
            if len(found):
                return start + int(found[0])
            start, chunk = stop, chunk * 4
        return n


class _Gate:
    """Lets the walk skip the points inside the band; a new band after every visited point."""

    def __init__(
        self, engine: Engine, band: Band | None, frame: Frame | None, feature_row: bool
    ) -> None:
        self.engine, self.band, self.frame, self.feature_row = engine, band, frame, feature_row

    def skip(self, price: Decimal, closing: bool) -> bool:
        """Return True when the settled grid would do nothing at price."""
        if self.band is None or (closing and self.feature_row):
            return False
        return self.band.contains(price)

    def stepped(self) -> None:
        """Recompute the band around the price the engine has just settled at."""
        market = self.engine.last_market
        self.band, self.frame = None, None
        if market is not None:
            engine = self.engine
            band, calls, self.frame = quiet_band(engine.deciding_grid(), market, engine.config)
            self.band = engine.breaker_cut(band)
            engine.evaluations += calls


def run_fast(walk: Walk) -> None:
    """Visit only the rows that can change something; the result equals run_plain's."""
    screen = Screen(walk)
    engine, data = walk.engine, walk.data
    engine.trust_placements = True
    # A firing's proof does not model the circuit breaker: with one armed, firings are visited.
    firings = screen.spiking is not None and applies(engine) and not engine.config.breaker_armed
    n = len(data)
    band: Band | None = None
    fr: Frame | None = None
    run: FiringRun | None = None  # firings in a row that each brought every entry back
    j = 0
    while j < n:
        k = None
        if firings and band is not None and fr is not None:
            k = screen.firing_end(j, band)
        if k is not None and band is not None and fr is not None:
            # A volume-monitor firing from row j's close to row k's, as one step (firing.py).
            p1, p2 = data.dec("close", j), data.dec("close", k)
            if run is None:
                run = FiringRun(engine, fr, band)
            if run.add(p1, p2):
                j = screen.next_row(k + 1, band)
                continue
            run.write()  # the state is S0 again (new ids): its survey still holds
            after = skip_firing(engine, fr, band, p1, p2, run.survey)
            run = None
            if after is not None:
                band, fr = after
                j = k + 1 if band is None else screen.next_row(k + 1, band)
                continue
        if run is not None:
            run.write()
            run = None
        gate = _Gate(engine, band, fr, bool(screen.features[j]))
        walk.visit(j, gate)
        band, fr = gate.band, gate.frame
        j = j + 1 if band is None else screen.next_row(j + 1, band)
    if run is not None:
        run.write()
