"""Indicator values equal an independent numpy batch computation, across a lost-state restart."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from mmtasks.grid.models import Candle
from mmtasks.signal.pipeline import CandleClosed, step
from mmtasks.signal.state import SignalState
from tests.signal.kit import config, context

N = 1000
NAMES = ["ema_9", "ema_21", "sma_20", "rsi_14", "atr_14", "bb_20_2", "macd_12_26_9"]


def series(n: int = N) -> list[Candle]:
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    out = []
    for i, c in enumerate(close):
        spread = abs(rng.normal(0, 0.8)) + 0.01
        o = c + rng.normal(0, 0.3)
        hi, lo = max(o, c) + spread, min(o, c) - spread
        out.append(
            Candle(i * 60_000, *(Decimal(f"{v:.2f}") for v in (o, hi, lo, c)), Decimal(1), True)
        )
    return out


def ema(x: np.ndarray, p: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    start = np.flatnonzero(~np.isnan(x))[0]
    out[start + p - 1] = np.mean(x[start : start + p])
    a = 2 / (p + 1)
    for i in range(start + p, len(x)):
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out


def sma(x: np.ndarray, p: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[p - 1 :] = np.convolve(x, np.ones(p) / p, mode="valid")
    return out


def wilder(x: np.ndarray, p: int, first: int) -> np.ndarray:
    """Mean of x[first-p+1 .. first] at first, then (prev*(p-1) + x)/p."""
    out = np.full(len(x), np.nan)
    out[first] = np.mean(x[first - p + 1 : first + 1])
    for i in range(first + 1, len(x)):
        out[i] = (out[i - 1] * (p - 1) + x[i]) / p
    return out


def rsi(c: np.ndarray, p: int) -> np.ndarray:
    change = np.concatenate(([0.0], np.diff(c)))
    gain, loss = wilder(np.maximum(change, 0), p, p), wilder(np.maximum(-change, 0), p, p)
    with np.errstate(divide="ignore"):
        return np.where(loss == 0, 100.0, 100 - 100 / (1 + gain / loss))


def atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, p: int) -> np.ndarray:
    prev = np.concatenate(([np.nan], c[:-1]))
    tr = np.nanmax(np.stack([h - lo, np.abs(h - prev), np.abs(lo - prev)]), axis=0)
    return wilder(tr, p, p - 1)


def batch(candles: list[Candle]) -> dict[str, np.ndarray]:
    c = np.array([float(k.close) for k in candles])
    h = np.array([float(k.high) for k in candles])
    lo = np.array([float(k.low) for k in candles])
    mid = sma(c, 20)
    std = np.full(len(c), np.nan)
    for i in range(19, len(c)):
        std[i] = np.std(c[i - 19 : i + 1])  # population, as Bollinger defines it
    macd = ema(c, 12) - ema(c, 26)
    signal = ema(macd, 9)
    return {
        "ema_9": ema(c, 9),
        "ema_21": ema(c, 21),
        "sma_20": mid,
        "rsi_14": rsi(c, 14),
        "atr_14": atr(h, lo, c, 14),
        "bb_20_2.upper": mid + 2 * std,
        "bb_20_2.middle": mid,
        "bb_20_2.lower": mid - 2 * std,
        "macd_12_26_9.macd": macd,
        "macd_12_26_9.signal": signal,
        "macd_12_26_9.hist": macd - signal,
    }


def rows(candles: list[Candle], restart_at: int | None) -> list[dict[str, Decimal | None]]:
    cfg = config(
        indicators=NAMES,
        rules={"long": ["close > ema_9"]},
        nbr_bars=520,
        min_rows_required=35,
        stop_pct="0.01",
        take_profit_pct="0.02",
        stop_atr=None,
        take_profit_atr=None,
    )
    state, out = SignalState(symbol="BTCUSDT"), []
    for i, k in enumerate(candles):
        if i == restart_at:  # the worker restarts; only the flat dict survives
            state = SignalState.from_dict(state.to_dict())
            assert state.bank is None
        state, _, _ = step(state, CandleClosed(k), cfg, context(fleet_state="HALTED"))
        out.append(dict(state.row))
    return out


@pytest.mark.parametrize("restart_at", [None, 800])
def test_indicators_equal_a_numpy_batch_on_1000_candles(restart_at):
    candles = series()
    expected = batch(candles)

    got = rows(candles, restart_at)

    for key, column in expected.items():
        for i, want in enumerate(column):
            value = got[i][key]
            if np.isnan(want):
                assert value is None, (key, i)
            else:
                # restart at 800: rebuilt from candles 280..799; the seed difference has decayed
                # by (1 - 1/14)^500 for the slowest (Wilder), far below the tolerance
                assert value is not None, (key, i)
                assert float(value) == pytest.approx(want, rel=1e-9, abs=1e-9), (key, i)
