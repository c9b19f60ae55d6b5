"""Generate seeded 1-minute candles with trends, ranges and gaps (the sample and the benchmark).

    python -m mmtasks.replay.generate --days 2 --seed 6 > mmtasks/replay/data/sample-BTCUSDT-1m.csv

The log price is a random walk (about 50% a year, BTC-like) in alternating regimes of a few
hours: an up trend, a down trend, or a range that pulls back to where it began. Underneath, a
weak pull towards the first price (a half-life of about four months) keeps a year within a
plausible band (roughly 0.6x to 1.7x at two standard deviations) instead of drifting away. Now
and then a candle opens away from the previous close (a gap, about once a day). Volume is
log-normal, larger on bigger moves, with rare bursts, so the volume monitor has something to
see. Prices are printed on the tick (0.01); output is Binance's kline CSV (no header).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TextIO

import numpy as np

from mmtasks.replay import series
from mmtasks.replay.series import FloatArray, Series

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000
HOME_HALF_LIFE_MIN = 120 * 1440  # the pull towards the first price
GAP_RATE = 1 / 1440  # gaps per candle
GAP_SIGMAS = 12  # a gap's size, in one-minute standard deviations


def _regimes(n: int, rng: np.random.Generator, sigma: float) -> tuple[FloatArray, FloatArray]:
    """Return per-candle drift and range pull: trends and ranges of 3 h to 1 day."""
    drift = np.zeros(n)
    revert = np.zeros(n)
    at = 0
    while at < n:
        length = int(rng.integers(180, 1440))
        kind = rng.integers(0, 3)
        if kind == 0:
            drift[at : at + length] = sigma * rng.uniform(0.01, 0.05)
        elif kind == 1:
            drift[at : at + length] = -sigma * rng.uniform(0.01, 0.05)
        else:
            revert[at : at + length] = rng.uniform(0.002, 0.02)
        at += length
    return drift, revert


def _prices(n: int, seed: int, start: float, sigma: float) -> tuple[FloatArray, ...]:
    rng = np.random.default_rng(seed)
    drift, revert = _regimes(n, rng, sigma)
    shocks = rng.standard_normal(n) * sigma
    gaps = np.where(rng.random(n) < GAP_RATE, rng.standard_normal(n) * sigma * GAP_SIGMAS, 0.0)
    home = math.log(start)
    pull = math.log(2) / HOME_HALF_LIFE_MIN
    log_close = np.empty(n)
    log_open = np.empty(n)
    level = anchor = home
    for j in range(n):  # a plain loop: the mean reversions need the running level
        if revert[j] == 0:
            anchor = level
        level += gaps[j]
        log_open[j] = level
        level += drift[j] + shocks[j] - revert[j] * (level - anchor) - pull * (level - home)
        log_close[j] = level
    wick_hi = np.abs(rng.standard_normal(n)) * sigma * 0.6
    wick_lo = np.abs(rng.standard_normal(n)) * sigma * 0.6
    opens, closes = np.exp(log_open), np.exp(log_close)
    highs = np.maximum(opens, closes) * np.exp(wick_hi)
    lows = np.minimum(opens, closes) * np.exp(-wick_lo)
    move = np.abs(log_close - log_open) / sigma  # in standard deviations
    bursts = np.where(rng.random(n) < 0.002, 6.0, 1.0)
    volume = rng.lognormal(1.0, 0.5, n) * (0.6 + 0.4 * move) * bursts
    return opens, highs, lows, closes, volume


def _cents(values: FloatArray) -> list[str]:
    return [f"{x:.2f}" for x in np.round(values, 2)]


def generate(minutes: int, seed: int = 7, start: float = 30_000.0, sigma: float = 0.0007) -> Series:
    """Return `minutes` seeded 1-minute candles (prices on a 0.01 tick)."""
    o, h, low, c, v = _prices(minutes, seed, start, sigma)
    o, c = np.round(o, 2), np.round(c, 2)
    h = np.maximum(np.round(h, 2), np.maximum(o, c))
    low = np.minimum(np.round(low, 2), np.minimum(o, c))
    ts = [START_MS + k * MINUTE_MS for k in range(minutes)]
    return series.candles(ts, _cents(o), _cents(h), _cents(low), _cents(c), [f"{x:.3f}" for x in v])


def write_binance_csv(data: Series, out: TextIO) -> None:
    """Write candles as Binance kline CSV rows (open time, o, h, l, c, volume, close time)."""
    for j in range(len(data)):
        ts = int(data.ts_ms[j])
        out.write(
            f"{ts},{data.open_text[j]},{data.high_text[j]},{data.low_text[j]},"
            f"{data.close_text[j]},{data.volume_text[j]},{ts + MINUTE_MS - 1}\n"
        )


def main(argv: list[str] | None = None) -> int:
    """Print generated candles as Binance kline CSV."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=3.0, help="how many days of 1m candles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=float, default=30_000.0, help="first price")
    args = parser.parse_args(argv)
    write_binance_csv(generate(int(args.days * 1440), args.seed, args.start), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
