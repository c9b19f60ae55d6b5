"""Feeds and candles: the seeded walk, scripted and CSV feeds, kline aggregation."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sim_helpers import START_MS, FakeClock

from mmtasks.errors import ValidationError
from mmtasks.sim import FeedRunner, RandomWalkFeed, SimExchange, make_feed, rules_for
from mmtasks.venue import Kline

pytestmark = pytest.mark.timeout(10)

D = Decimal
RULES = {s: rules_for(s) for s in ("BTCUSDT", "ETHUSDT")}


def walk(seed: int, rounds: int) -> list[tuple[str, Decimal, Decimal]]:
    feed = RandomWalkFeed(RULES, seed)
    last = {s: r.start_price for s, r in RULES.items()}
    path = []
    for _ in range(rounds):
        for tick in feed.next_round(last):
            last[tick.symbol] = tick.price
            path.append((tick.symbol, tick.price, tick.volume))
    return path


def test_seeded_random_walk_is_deterministic() -> None:
    assert walk(7, 300) == walk(7, 300)
    assert walk(7, 300) != walk(8, 300)


def test_random_walk_stays_on_the_tick_positive_and_bounded() -> None:
    path = walk(1, 5000)

    for symbol, price, volume in path:
        rules = RULES[symbol]
        assert price % rules.tick_size == 0
        assert rules.start_price / 4 <= price <= rules.start_price * 4
        assert volume > 0
    assert len({p for _, p, _ in path}) > 100  # it does move


def test_scripted_feed_plays_the_path_once_through_the_engine(
    exchange: SimExchange,
) -> None:
    rules = {s: exchange.rules(s) for s in exchange.symbols}
    runner = FeedRunner(exchange, make_feed("scripted:100,101,99", rules))

    played = [runner.play_round() for _ in range(4)]

    assert played == [2, 2, 2, 0]
    tick = exchange.latest_price("ETHUSDT")
    assert (tick.price, tick.seq) == (D(99), 3)


def test_csv_feed_replays_rows_of_known_symbols(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "ts,symbol,price,volume\n"
        "1,BTCUSDT,30001.004,0.5\n"
        "2,XRPUSDT,0.5,1\n"
        "3,ETHUSDT,2001,2\n"
        "4,BTCUSDT,30002,\n"
    )
    feed = make_feed(f"csv:{path}", RULES)

    first = feed.next_round({})
    second = feed.next_round({})

    assert [(t.symbol, t.price, t.volume) for t in first] == [
        ("BTCUSDT", D("30001.00"), D("0.5")),
        ("ETHUSDT", D(2001), D(2)),
    ]
    assert [(t.symbol, t.price) for t in second] == [("BTCUSDT", D(30002))]
    assert feed.next_round({}) == []


@pytest.mark.parametrize("spec", ["walk", "scripted:", "scripted:1,x", "csv:/nonexistent.csv"])
def test_bad_feed_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValidationError):
        make_feed(spec, RULES)


def test_klines_aggregate_ohlcv_per_interval(exchange: SimExchange, clock: FakeClock) -> None:
    for offset_ms, price, volume in [
        (0, "100", "1"),
        (10_000, "105", "2"),
        (20_000, "98", "3"),
        (59_999, "101", "4"),
        (60_000, "102", "5"),  # opens the next minute, closing the first
    ]:
        clock.now_ms = START_MS + offset_ms
        exchange.apply_price("BTCUSDT", D(price), D(volume))

    (candle,) = exchange.klines("BTCUSDT", "1m")

    assert candle == Kline(
        symbol="BTCUSDT",
        interval="1m",
        open_ms=START_MS,
        close_ms=START_MS + 59_999,
        open=D(100),
        high=D(105),
        low=D(98),
        close=D(101),
        volume=D(10),
        closed=True,
    )
    forming = exchange.forming_kline("BTCUSDT", "1m")
    assert forming is not None
    assert (forming.open, forming.volume, forming.closed) == (D(102), D(5), False)


def test_silent_intervals_close_as_flat_candles_on_time(
    exchange: SimExchange, clock: FakeClock
) -> None:
    exchange.apply_price("ETHUSDT", D(2001), D(1))
    clock.advance(3_500)

    closed = exchange.close_due_klines()

    one_second = [k for k in closed if k.interval == "1s" and k.symbol == "ETHUSDT"]
    assert [(k.open, k.close, k.volume) for k in one_second] == [
        (D(2001), D(2001), D(1)),
        (D(2001), D(2001), D(0)),
        (D(2001), D(2001), D(0)),
    ]
    assert exchange.klines("ETHUSDT", "1s", limit=2) == one_second[-2:]


def test_unknown_interval_is_a_validation_error(exchange: SimExchange) -> None:
    with pytest.raises(ValidationError, match="interval must be one of"):
        exchange.klines("BTCUSDT", "7m")


def test_make_exchange_with_liquidity_must_be_positive(
    make_exchange: Callable[..., SimExchange],
) -> None:
    with pytest.raises(ValidationError, match="liquidity must be > 0"):
        make_exchange(liquidity="-1")


class Clock:
    """time.monotonic of the feed runner, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import mmtasks.sim.runner as runner_module

        self.now = 1000.0
        monkeypatch.setattr(runner_module.time, "monotonic", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def clocked_runner(
    exchange: SimExchange, monkeypatch: pytest.MonkeyPatch, path: str, **kw: bool
) -> tuple[Clock, FeedRunner]:
    """Return a clock the test moves and a runner playing path every 200 ms on it."""
    clock = Clock(monkeypatch)
    rules = {s: exchange.rules(s) for s in exchange.symbols}
    return clock, FeedRunner(exchange, make_feed(f"scripted:{path}", rules), 200, **kw)


def test_a_round_is_spread_over_the_interval_one_symbol_after_the_other(
    exchange: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: two symbols (BTCUSDT, ETHUSDT), a round every 200 ms on a clock the test moves.
    clock, runner = clocked_runner(exchange, monkeypatch, "100,101")

    def seqs() -> dict[str, int]:
        return {s: exchange.latest_price(s).seq for s in exchange.symbols}

    # Act / Assert: the first tick of the round now, the second half an interval later
    # (2 ticks: the k-th at k x 200 / 2 ms), the next round 200 ms after the first.
    runner.step()
    assert sorted(seqs().values()) == [0, 1]
    clock.advance(0.099)
    runner.step()
    assert sorted(seqs().values()) == [0, 1]
    clock.advance(0.001)
    runner.step()
    assert sorted(seqs().values()) == [1, 1]
    clock.advance(0.1)
    runner.step()
    assert sorted(seqs().values()) == [1, 2]

    # And with spread off, a round plays every symbol at once.
    _, burst = clocked_runner(exchange, monkeypatch, "102", spread=False)
    burst.step()
    assert {exchange.latest_price(s).price for s in exchange.symbols} == {D(102)}


def test_a_price_injected_mid_round_stands_and_the_walk_goes_on_from_it(
    exchange: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a spread round drawn at 100 for both symbols; its second tick is due at 100 ms.
    clock, runner = clocked_runner(exchange, monkeypatch, "101,102")
    runner.step()  # the first symbol's tick of the round (101) plays now
    second = next(s for s in exchange.symbols if exchange.latest_price(s).seq == 0)

    # Act: a price injected for the second symbol before its tick of the round is due.
    exchange.apply_price(second, D(95))
    clock.advance(0.1)
    runner.step()

    # Assert: the injected price stands (the round's 101 for it, drawn from 100, is dropped).
    assert exchange.latest_price(second).price == D(95)
    assert exchange.latest_price(second).seq == 1
    # And the next round plays for both symbols (drawn after the injection: nothing dropped).
    clock.advance(0.1)
    runner.step()
    clock.advance(0.1)
    runner.step()
    assert {exchange.latest_price(s).price for s in exchange.symbols} == {D(102)}
