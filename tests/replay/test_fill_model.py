"""Hand-worked paths: GRID.md's cases and candles whose expected fills are written out here."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.replay.matcher import Fees
from tests.replay.kit import D, candle_path, config, fills, resting, run, tick_path


@pytest.mark.parametrize(
    ("mode", "path", "expected_fills", "expected_resting", "position", "realized"),
    [
        ("neutral", [100], [], [("BUY", 80), ("BUY", 90), ("SELL", 110), ("SELL", 120)], 0, 0),
        ("long", [100, 96], [], [("BUY", 80), ("BUY", 90)], 0, 0),
        ("long", [100, 94], [], [("BUY", 70), ("BUY", 80), ("BUY", 90)], 0, 0),
        ("long", [100, 89, 95], [("BUY", 90)], [("BUY", 70), ("BUY", 80), ("SELL", 100)], 1, 0),
        (
            "long",
            [100, 89, 95, 100],
            [("BUY", 90), ("SELL", 100)],
            [("BUY", 70), ("BUY", 80), ("BUY", 90)],
            0,
            10,
        ),
        (
            "long",
            [100, 89, 79, 75, 69],
            [("BUY", 90), ("BUY", 80), ("BUY", 70)],
            [("BUY", 50), ("BUY", 60), ("SELL", 80), ("SELL", 90)],
            3,
            0,
        ),
        ("long", [100, 111], [], [("BUY", 90), ("BUY", 100)], 0, 0),
        (
            "neutral",
            [100, 111, 95],
            [("SELL", 110), ("BUY", 100)],
            [("BUY", 80), ("BUY", 90), ("SELL", 100), ("SELL", 110), ("SELL", 120)],
            0,
            10,
        ),
    ],
)
def test_grid_md_cases_on_ticks_with_touch_fills(
    mode: str,
    path: list[int],
    expected_fills: list[tuple[str, int]],
    expected_resting: list[tuple[str, int]],
    position: int,
    realized: int,
) -> None:
    out = run(config(mode, fill="touch"), tick_path(*path))

    assert fills(out) == [(s, D(p)) for s, p in expected_fills]
    assert resting(out) == [(s, D(p)) for s, p in expected_resting]
    assert (out.engine.grid.position.qty, out.engine.grid.position.realized_pnl) == (
        position,
        realized,
    )


def test_a_candle_whose_low_crosses_two_buys_fills_both_highest_first() -> None:
    # Anchor at 100 (buys 90, 80); the next candle dips to 75: both buys fill at their price.
    out = run(config(), candle_path((100, 100, 100, 100), (100, 101, 75, 98)))

    assert fills(out)[:2] == [("BUY", D(90)), ("BUY", D(80))]
    assert all(f.maker for f in out.engine.fills)


def test_a_gap_candle_fills_a_passed_closing_order_at_once_as_a_taker() -> None:
    # Buy 90 fills; price falls far so the closing SELL 100 leaves the window and is cancelled
    # (closing orders are placed only within the window); then the market gaps up to 131.
    path = candle_path(
        (100, 100, 100, 100), (95, 95, 89, 89), (60, 60, 40, 40), (131, 131, 131, 131)
    )
    out = run(config(fees=Fees(D("0.001"), D("0.002"))), path)

    buy90 = [f for f in out.engine.fills if f.side.value == "BUY" and f.price == 90]
    assert buy90 and buy90[0].maker
    taker = [f for f in out.engine.fills if not f.maker]
    assert taker, "the passed closing sells fill as takers"
    assert {f.price for f in taker} == {D(131)}
    assert all(f.closing and f.side.value == "SELL" for f in taker)
    assert all(f.fee == f.price * f.qty * D("0.002") for f in taker)


def test_strict_needs_the_price_through_the_order_touch_fills_at_the_price() -> None:
    path = candle_path((100, 100, 100, 100), (100, 100, 90, 95))

    strict = run(config(fill="strict"), path)
    touch = run(config(fill="touch"), path)

    assert fills(strict) == []
    assert fills(touch) == [("BUY", D(90))]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # open 100 -> high 111 first: SELL 110 fills, its closing BUY 100 rests; then the low 89
        # fills BUY 100 (closing) and BUY 90.
        ("ohlc", [("SELL", D(110)), ("BUY", D(100)), ("BUY", D(90))]),
        # open 100 -> low 89 first: BUY 90 fills, its closing SELL 100 rests; then the high 111
        # fills SELL 100 (closing) and SELL 110.
        ("olhc", [("BUY", D(90)), ("SELL", D(100)), ("SELL", D(110))]),
    ],
)
def test_both_path_orders_inside_a_candle(order: str, expected: list[tuple[str, Decimal]]) -> None:
    path = candle_path((100, 100, 100, 100), (100, 111, 89, 100))

    out = run(config("neutral"), path, order=order)

    assert fills(out) == expected


def test_auto_path_visits_the_nearer_extreme_first() -> None:
    path = candle_path((100, 100, 100, 100), (100, 111, 95, 100), (100, 103, 89, 100))

    out = run(config(), path)

    # candle 1 lifts the window (buys 100, 90); candle 2 goes to 103 first (nearer), then
    # down through 100 and 90: had it gone down first, the SELL 110 closing BUY 100 would not
    # exist either, but the fills would be the same two buys, highest first.
    assert fills(out) == [("BUY", D(100)), ("BUY", D(90))]
    assert resting(out)[-2:] == [("SELL", D(100)), ("SELL", D(110))]
