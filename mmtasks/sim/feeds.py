"""Price feeds of the simulated exchange: seeded random walk, scripted path, CSV replay, none."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from mmtasks.decimals import canon, parse_decimal, snap_nearest
from mmtasks.errors import ValidationError
from mmtasks.sim.models import SimSymbolRules
from mmtasks.sim.rules import check_price

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FeedTick:
    """One price (and traded base volume) the feed wants the market to trade at."""

    symbol: str
    price: Decimal
    volume: Decimal


class PriceFeed(Protocol):
    """A source of prices, asked for one round (at most one tick per symbol) at a time."""

    def next_round(self, last: Mapping[str, Decimal]) -> list[FeedTick]:
        """Return the ticks of the next round given the last price of every symbol."""
        ...


class NoFeed:
    """Prices come only from InjectPrice."""

    def next_round(self, last: Mapping[str, Decimal]) -> list[FeedTick]:
        """Return no ticks."""
        return []


class RandomWalkFeed:
    """A seeded random walk in tick units, per symbol, kept within [start/4, start*4] and > 0.

    The same seed and the same sequence of last prices give the same path. Randomness is drawn
    as floats only to pick a whole number of ticks; prices are built from that integer exactly.
    """

    def __init__(
        self, rules: Mapping[str, SimSymbolRules], seed: int = 0, volatility: float = 0.0002
    ) -> None:
        self._rules = dict(rules)
        self._volatility = volatility
        self._rngs = {s: random.Random(f"{seed}:{s}") for s in self._rules}
        self._bounds: dict[str, tuple[int, int]] = {}
        for symbol, r in self._rules.items():
            start = int(r.start_price / r.tick_size)
            self._bounds[symbol] = (max(1, start // 4), max(2, start * 4))
        self._volume_unit = {s: r.step_size * 100 for s, r in self._rules.items()}
        # The last price we made, as (price, ticks): saves a Decimal division per tick when
        # nothing else (an injected price) moved the market in between.
        self._made: dict[str, tuple[Decimal, int]] = {}

    def next_round(self, last: Mapping[str, Decimal]) -> list[FeedTick]:
        """Return one step of the walk for every symbol."""
        return [self._step(symbol, last[symbol]) for symbol in self._rules]

    def _step(self, symbol: str, price: Decimal) -> FeedTick:
        rules = self._rules[symbol]
        rng = self._rngs[symbol]
        made = self._made.get(symbol)
        ticks = made[1] if made is not None and made[0] == price else int(price / rules.tick_size)
        low, high = self._bounds[symbol]
        sigma = max(1.0, ticks * self._volatility)
        moved = ticks + round(rng.gauss(0.0, sigma))
        if low <= ticks <= high:
            # Reflect at the bounds so the walk stays in range without sticking to an edge.
            if moved < low:
                moved = min(high, 2 * low - moved)
            elif moved > high:
                moved = max(low, 2 * high - moved)
        moved = max(1, moved)
        new_price = Decimal(moved) * rules.tick_size
        self._made[symbol] = (new_price, moved)
        volume = Decimal(rng.randint(1, 100)) * self._volume_unit[symbol]
        return FeedTick(symbol, new_price, volume)


class ScriptedFeed:
    """Every symbol walks the same list of prices once, one per round, then goes quiet."""

    def __init__(self, rules: Mapping[str, SimSymbolRules], prices: list[Decimal]) -> None:
        for r in rules.values():
            for p in prices:
                check_price(r, p, "scripted price")
        self._symbols = list(rules)
        self._prices = prices
        self._index = 0

    def next_round(self, last: Mapping[str, Decimal]) -> list[FeedTick]:
        """Return the next price of the path for every symbol, none once it is played."""
        if self._index >= len(self._prices):
            return []
        price = self._prices[self._index]
        self._index += 1
        return [FeedTick(s, price, ZERO) for s in self._symbols]


class CsvFeed:
    """Replay rows `symbol,price[,volume]` or `ts,symbol,price[,volume]` in file order, once.

    Each round plays as many rows as there are symbols. Rows of symbols not traded here are
    skipped; prices are snapped to the tick. The ts column only orders the file: events are
    stamped with the replay time, so candles and staleness checks see a live market.
    """

    def __init__(self, rules: Mapping[str, SimSymbolRules], path: Path) -> None:
        self._rules = dict(rules)
        self._rows = self._load(path)
        self._index = 0

    def next_round(self, last: Mapping[str, Decimal]) -> list[FeedTick]:
        """Return the next rows of the file."""
        chunk = self._rows[self._index : self._index + len(self._rules)]
        self._index += len(chunk)
        return chunk

    def _load(self, path: Path) -> list[FeedTick]:
        if not path.is_file():
            raise ValidationError(f"csv feed file must exist, received {str(path)!r}")
        rows: list[FeedTick] = []
        with path.open(newline="") as handle:
            for lineno, row in enumerate(csv.reader(handle), start=1):
                cells = [c.strip() for c in row]
                if not cells or not any(cells) or cells[0].startswith("#"):
                    continue
                tick = self._parse(cells, path, lineno)
                if tick is not None:
                    rows.append(tick)
        return rows

    def _parse(self, cells: list[str], path: Path, lineno: int) -> FeedTick | None:
        # ts,symbol,price[,volume] when the first cell is a number, else symbol,price[,volume].
        if cells[0].lstrip("-").isdigit():
            cells = cells[1:]
        if len(cells) < 2:
            raise ValidationError(f"{path}:{lineno}: expected symbol,price[,volume], got {cells}")
        symbol = cells[0].upper()
        if lineno == 1 and cells[1].lower() == "price":
            return None  # header row
        rules = self._rules.get(symbol)
        if rules is None:
            return None
        where = f"{path}:{lineno}"
        price = snap_nearest(
            parse_decimal(cells[1], f"{where} price", positive=True), rules.tick_size
        )
        if price <= 0:
            raise ValidationError(
                f"{where}: price {cells[1]} rounds to 0 at tick {canon(rules.tick_size)}"
            )
        volume = (
            parse_decimal(cells[2], f"{where} volume", non_negative=True)
            if len(cells) > 2 and cells[2]
            else ZERO
        )
        return FeedTick(symbol, price, volume)


def make_feed(spec: str, rules: Mapping[str, SimSymbolRules], seed: int = 0) -> PriceFeed:
    """Return the feed named by spec: random | none | scripted:P1,P2,... | csv:PATH."""
    kind, _, arg = spec.partition(":")
    if kind == "random" and not arg:
        return RandomWalkFeed(rules, seed)
    if kind == "none" and not arg:
        return NoFeed()
    if kind == "scripted" and arg:
        prices = [parse_decimal(p, "scripted price", positive=True) for p in arg.split(",")]
        return ScriptedFeed(rules, prices)
    if kind == "csv" and arg:
        return CsvFeed(rules, Path(arg))
    raise ValidationError(
        f"feed must be random, none, scripted:P1,P2,... or csv:PATH, received {spec!r}"
    )
