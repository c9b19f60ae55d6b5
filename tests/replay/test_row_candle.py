"""The replay feed's candles: RowCandle is the Candle of its row's values, parsed when read."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from mmtasks.grid.indicators import atr, volume_spike
from mmtasks.grid.models import Candle
from mmtasks.replay.feed import KEPT_EXTRA, CandleFeed, RowCandle
from mmtasks.replay.series import candles


def _series(rows: int) -> tuple[list[int], list[tuple[str, str, str, str, str]]]:
    ts = [60_000 * j for j in range(rows)]
    texts = [
        (
            f"{100 + j % 7}.5",
            f"{103 + j % 5}.25",
            f"{97 + j % 3}.75",
            f"{100 + j % 11}.0",
            f"{j % 13}.125",
        )
        for j in range(rows)
    ]
    return ts, texts


def _candle(open_ms: int, texts: tuple[str, str, str, str, str]) -> Candle:
    o, h, low, c, v = (Decimal(t) for t in texts)
    return Candle(open_ms, o, h, low, c, v, True)


def test_a_row_candle_is_the_candle_of_its_values() -> None:
    texts = ("1.0", "2", "0.50", "1.5", "10")
    row = RowCandle(5, texts, Decimal("1.5"), Decimal("10"))
    plain = Candle(
        5, Decimal("1.0"), Decimal(2), Decimal("0.50"), Decimal("1.5"), Decimal(10), True
    )
    assert row == plain and plain == row and hash(row) == hash(plain)
    assert dataclasses.astuple(row) == dataclasses.astuple(plain)
    assert str(row.low) == "0.50"  # the text's own Decimal, as Candle(Decimal(text)) holds
    assert row != dataclasses.replace(plain, low=Decimal("0.4"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.close = Decimal(1)  # type: ignore[misc]


def test_the_feed_gives_the_indicators_what_a_full_window_gives() -> None:
    ts, texts = _series(60)
    data = candles(ts, *(list(column) for column in zip(*texts, strict=True)))
    window = 20
    feed = CandleFeed(data, window + KEPT_EXTRA, 60_000)
    for j in (0, 10, 21, 22, 23, 40, 41, 59):
        seen = feed.at(j, closed_through=True)
        full = tuple(_candle(ts[k], texts[k]) for k in range(max(0, j - 30), j + 1))
        assert seen == full[-len(seen) :]
        assert volume_spike(seen, window, Decimal(3)) == volume_spike(full, window, Decimal(3))
        assert atr(seen, window) == atr(full, window)
