"""The fast path never changes a result: it equals the plain one-row-at-a-time loop."""

from __future__ import annotations

import math
import os
import random
from dataclasses import fields
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from mmtasks.grid.band import Band
from mmtasks.grid.logic import Frame
from mmtasks.replay import series
from mmtasks.replay.engine import Engine
from mmtasks.replay.fastforward import Screen, _forming_sums
from mmtasks.replay.loop import Walk
from mmtasks.replay.series import Series
from tests.replay.kit import config, run

PATHS = int(os.environ.get("REPLAY_EQUIVALENCE_PATHS", "500"))
ROWS = int(os.environ.get("REPLAY_EQUIVALENCE_ROWS", "60"))

SETUPS: list[dict[str, Any]] = [
    {"mode": "long"},
    {"mode": "neutral"},
    {"mode": "neutral", "fill": "touch"},
    {"mode": "long", "risk": {"max_open_orders": 3, "max_position": "3"}},
    {"mode": "neutral", "risk": {"max_open_orders": 4}},
    {"mode": "neutral", "inventory_skew": "0.001"},
    {"mode": "long", "atr_scale": "0.5", "risk": {"average_window": 3}},
    {"mode": "neutral", "risk": {"average_window": 3, "volume_multiplier": "1.5"}},
    # the volume monitor (on by default in every setup) and the ATR interval together
    {
        "mode": "neutral",
        "atr_scale": "0.3",
        "risk": {"average_window": 5, "volume_multiplier": "1.5"},
    },
    # Frequent firings, each one step in the fast path (firing.py): fills just before, during
    # and at the candle the monitor turns on or off, entries leaving the window meanwhile.
    {"mode": "long", "spiky": True, "risk": {"average_window": 3}},
    {"mode": "neutral", "spiky": True, "risk": {"average_window": 3}},
    {"mode": "neutral", "fill": "touch", "spiky": True, "risk": {"average_window": 4}},
    {
        "mode": "long",
        "fill": "touch",
        "spiky": True,
        "buy_levels": 5,
        "risk": {"average_window": 4},
    },
    {"mode": "neutral", "spiky": True, "inventory_skew": "0.002", "risk": {"average_window": 3}},
    # Calmer paths between the spikes: several firings in a row without a visit between them,
    # written at once (firing.FiringRun).
    {"mode": "long", "spiky": "calm", "risk": {"average_window": 3}},
    {"mode": "neutral", "spiky": "calm", "risk": {"average_window": 3}},
    {"mode": "neutral", "fill": "touch", "spiky": "calm", "inventory_skew": "0.002"},
    # A circuit breaker armed: bands cut to where it decides the same, trips along the way
    # (reduce-only or paused after), a losing streak, firings visited.
    {"mode": "long", "risk": {"max_drawdown_quote": "150"}},
    {"mode": "neutral", "risk": {"max_drawdown_quote": "150", "breaker_action": "PAUSED"}},
    {"mode": "neutral", "fill": "touch", "risk": {"max_drawdown_quote": "300"}},
    {"mode": "long", "risk": {"max_losing_closes": 2, "max_drawdown_quote": "300"}},
    {"mode": "neutral", "spiky": True, "risk": {"average_window": 3, "max_drawdown_quote": "80"}},
    {"mode": "neutral", "risk": {"max_losing_closes": 2}},  # the mark kept, no drawdown limit
]


def random_path(rng: random.Random, rows: int, *, spiky: bool | str = False) -> Series:
    """Candles (or ticks) with trends, ranges and gaps, on a 0.01 tick, some touching levels.

    spiky: mostly quiet candles (inside one level) with frequent volume spikes, so the monitor
    fires often while the grid rests; "calm": quieter still, so firings follow each other
    without a visit between them.
    """
    price = 100 * 100
    o, h, lo, c, v = [], [], [], [], []
    drift = 0
    for _ in range(rows):
        if rng.random() < 0.1:
            drift = rng.choice([-40, 0, 40] if spiky else [-150, 0, 150])
            drift = 0 if spiky == "calm" and rng.random() < 0.7 else drift
        if rng.random() < (0.02 if spiky == "calm" else 0.05):
            price += rng.choice([-1, 1]) * rng.randint(1500, 4000)  # gap
        price = max(price, 3000)
        open_ = price
        move = 150 if spiky and rng.random() < (0.95 if spiky == "calm" else 0.8) else 900
        close = max(open_ + drift + rng.randint(-move, move), 2000)
        if rng.random() < 0.2:
            close = round(close, -3)  # lands on a level: touch and strict differ there
        wick = move - 100 if move > 200 else move // 2
        high = max(open_, close) + rng.choice([0, rng.randint(0, wick)])
        low = max(min(open_, close) - rng.choice([0, rng.randint(0, wick)]), 1000)
        o.append(open_), h.append(high), lo.append(low), c.append(close)
        v.append(str(rng.choice([1, 1, 1, 2, 30] if spiky else [1, 1, 2, 9])))
        price = close
    cents = [[f"{x / 100:.2f}" for x in col] for col in (o, h, lo, c)]
    ts = [k * 60_000 for k in range(rows)]
    if rng.random() < (0.1 if spiky else 0.25):
        return series.ticks(ts, cents[3], v)
    return series.candles(ts, *cents, v)


def events(engine: Engine) -> list[dict[str, str]]:
    """The events the decisions emitted, without the wall-clock time each was made at."""
    return [{k: v for k, v in e.items() if k != "ts_ms"} for e in engine.step_events]


@pytest.mark.parametrize("chunk", range(len(SETUPS)))
def test_fast_path_equals_plain_loop_on_random_paths(chunk: int) -> None:
    setup = dict(SETUPS[chunk])
    rng = random.Random(1000 + chunk)
    spiky = setup.pop("spiky", False)
    cfg = config(
        setup.pop("mode"), fill=setup.pop("fill", "strict"), risk=setup.pop("risk", None), **setup
    )
    firings = chained = trusted = trusted_cancels = skipped = tripped = 0
    for _ in range(-(-PATHS // len(SETUPS))):  # at least PATHS paths in all
        data = random_path(rng, ROWS, spiky=spiky)

        fast = run(cfg, data, fast=True, confirm_trusted=True)  # a skipped decision is empty
        plain = run(cfg, data, fast=False)

        assert fast.engine.fills == plain.engine.fills
        assert fast.engine.grid == plain.engine.grid
        assert fast.engine.venue.book == plain.engine.venue.book
        assert (fast.engine.venue.placed, fast.engine.venue.cancelled) == (
            plain.engine.venue.placed,
            plain.engine.venue.cancelled,
        )
        assert fast.engine.meta == plain.engine.meta  # the breaker's mark, streak, trip
        assert events(fast.engine) == events(plain.engine)  # the breaker's, by what they say
        skipped += plain.engine.steps - fast.engine.steps
        tripped += bool(plain.engine.meta.get("breaker"))
        firings += fast.engine.firings
        chained += fast.engine.chained
        trusted += fast.engine.trusted
        trusted_cancels += fast.engine.trusted_cancels
    if cfg.risk.max_open_orders is None:  # decisions only placing orders were not confirmed
        assert trusted > 0
    if cfg.risk.max_open_orders is None and cfg.risk.max_position is None:
        assert trusted_cancels > 0  # nor those cancelling entries out of their window
    if spiky and not cfg.breaker_armed:  # the shortcuts under test were taken: firings, and
        assert firings > 0  # firings in a row
        assert chained > 0
    if cfg.breaker_armed:  # rows were skipped, and the breaker tripped on some paths, not all
        assert skipped > 0
        assert 0 < tripped < -(-PATHS // len(SETUPS))


def test_forming_volume_sums_each_candle_on_its_own() -> None:
    # Arrange: a huge volume long before, then small ticks: a year-long running sum minus the
    # sum at the candle's start would carry the huge sum's rounding into the small ones.
    rng = random.Random(7)
    volume = np.array([1e15] * 3 + [rng.choice([0.1, 0.3, 0.7]) for _ in range(5000)])
    starts = np.array([0, *range(3, 5000, 37), *range(4800, 5003, 1)], dtype=np.int64)
    starts = np.unique(starts)

    # Act
    forming = _forming_sums(volume, starts)

    # Assert: every prefix of every candle, against an exactly rounded sum
    ends = [*starts[1:], len(volume)]
    for start, end in zip(starts, ends, strict=True):
        for t in range(start, end):
            exact = math.fsum(volume[start : t + 1])
            assert abs(forming[t] - exact) <= 1e-13 * exact


def test_the_firing_frame_carries_every_field() -> None:
    # firing._frame_at spells out Frame's constructor: a new field must be carried there too.
    assert [f.name for f in fields(Frame)] == [
        "price",
        "anchor",
        "interval",
        "ref",
        "buy_ref",
        "sell_ref",
        "stale",
        "volume_spike",
        "reduce_only",
    ]


@pytest.mark.parametrize("spiky", [False, True])
def test_the_screen_finds_the_first_row_leaving_a_band_or_a_feature_row(spiky: bool) -> None:
    # Arrange: a screen over a random path (features from the volume monitor), bands around it
    rng = random.Random(11 + spiky)
    data = random_path(rng, 3000, spiky=spiky)
    screen = Screen(Walk(Engine(config("long", risk={"average_window": 3})), data))
    low, high, n = screen.low, screen.high, len(data)
    for _ in range(300):
        mid = float(data.floats("close")[rng.randrange(n)])
        width = rng.choice([0.5, 2.0, 8.0, 30.0, 1e9])
        band = Band(Decimal(str(mid - width)), False, Decimal(str(mid + width)), False)
        start = rng.randrange(n + 1)

        # Act
        found = screen.next_row(start, band)

        # Assert: the brute-force answer over the same float bounds
        lo, hi = screen._bounds(band)
        rows = (j for j in range(start, n) if screen.features[j] or low[j] <= lo or high[j] >= hi)
        assert found == next(rows, n)
