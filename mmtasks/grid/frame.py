"""The derived inputs of a decision (`Frame`): the anchor, the interval, the reference price and
the risk switches, and the entry candidates they imply (GRID.md "Levels").

Split from logic.py, which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from mmtasks.decimals import snap_nearest
from mmtasks.errors import ValidationError
from mmtasks.grid.config import GridConfig, RiskConfig, SymbolRules, snapped_interval
from mmtasks.grid.indicators import atr, volume_spike
from mmtasks.grid.models import GridState, Market
from mmtasks.grid.quickinit import quick_init
from mmtasks.grid.sizing import snap_price


@quick_init
@dataclass(frozen=True)
class Frame:
    """The derived inputs of one decision: prices, interval and the risk switches."""

    price: Decimal
    anchor: Decimal
    interval: Decimal
    ref: Decimal
    buy_ref: Decimal
    sell_ref: Decimal
    stale: bool
    volume_spike: bool
    reduce_only: bool


def with_anchor(state: GridState, price: Decimal, tick_size: Decimal | None = None) -> GridState:
    """Return state anchored at price (snapped to tick_size when given) unless already anchored."""
    if state.anchor is not None:
        return state
    # Levels are anchor + k x interval; an anchor on the tick keeps every level on the tick.
    anchor = price if tick_size is None else max(snap_nearest(price, tick_size), tick_size)
    return replace(state, anchor=anchor)


def effective_interval(
    config: GridConfig, rules: SymbolRules, market: Market, risk: RiskConfig
) -> Decimal:
    """Return max(interval, ATR x atr_scale) snapped to the tick (ATR off when scale is 0)."""
    base = snapped_interval(config, rules)
    if config.atr_scale <= 0:
        return base
    range_ = atr(market.candles, risk.average_window)
    if range_ is None:
        return base
    return max(base, snap_price(range_ * config.atr_scale, rules))


def reference_price(price: Decimal, position_qty: Decimal, inventory_skew: Decimal) -> Decimal:
    """Return price x (1 - inventory_skew x position): the skewed centre of the grid."""
    if inventory_skew == 0:
        return price
    return price * (1 - inventory_skew * position_qty)


def floor_div(value: Decimal, step: Decimal) -> Decimal:
    # divmod on Decimals is exact and truncates toward zero; turn it into a floor.
    quotient, rest = divmod(value, step)
    return quotient - 1 if rest < 0 else quotient


def buy_levels(anchor: Decimal, interval: Decimal, ref: Decimal, count: int) -> list[Decimal]:
    """Return the `count` highest positive levels at or below ref - interval/2, nearest first."""
    top = floor_div(ref - interval / 2 - anchor, interval)
    return list(level_table.run(anchor, interval, int(top), count, True))


def sell_levels(anchor: Decimal, interval: Decimal, ref: Decimal, count: int) -> list[Decimal]:
    """Return the `count` lowest levels at or above ref + interval/2, nearest first."""
    bottom = -floor_div(anchor - (ref + interval / 2), interval)  # ceil
    return list(level_table.run(anchor, interval, int(bottom), count, False))


class _Levels:
    """The levels anchor + n x interval by their integer index n, each made once.

    The price moves within one bucket between most evaluations, and a decision and its quiet
    band look at the same levels, so the same Decimals come back - and a new Decimal's hash
    (asked by the sets of occupied prices and taken levels) costs several times the arithmetic
    that made it; these are hashed once. Anchor and interval are held and compared by identity
    (a level's text follows theirs: equal values spelled differently must not share levels).
    `anchor + Decimal(n) * interval` is `anchor + q * interval` for the integral Decimal q of
    value n that floor_div gives (exponent 0): the same value, spelled the same.
    """

    def __init__(self) -> None:
        self.entry: tuple[Decimal, Decimal, dict[int, Decimal], dict[_RunKey, _Run]]
        self.entry = (Decimal(0), Decimal(0), {}, {})

    def _tables(
        self, anchor: Decimal, interval: Decimal
    ) -> tuple[dict[int, Decimal], dict[_RunKey, _Run]]:
        a, i, levels, runs = self.entry
        if a is not anchor or i is not interval or len(levels) > MAX_LEVELS:
            levels, runs = {}, {}
            self.entry = (anchor, interval, levels, runs)
        return levels, runs

    def at(self, anchor: Decimal, interval: Decimal, n: int) -> Decimal:
        """Return the level of index n."""
        levels = self._tables(anchor, interval)[0]
        level = levels.get(n)
        if level is None:
            level = levels[n] = anchor + Decimal(n) * interval
        return level

    def first_free(
        self, anchor: Decimal, interval: Decimal, start: int, step: int, taken: set[Decimal]
    ) -> int | None:
        """Return the least k in 1 .. MAX_SCAN - 1 whose level of index start + step x k is
        not in taken (None: a level at or below zero comes first, or none is free)."""
        # The quiet band's scan for the next free level: at() inlined, one table look-up a level.
        levels = self._tables(anchor, interval)[0]
        n = start
        for k in range(1, MAX_SCAN):
            n += step
            level = levels.get(n)
            if level is None:
                level = levels[n] = anchor + Decimal(n) * interval
            if step < 0 and level <= 0:
                return None
            if level not in taken:
                return k
        return None

    def run(self, anchor: Decimal, interval: Decimal, nearest: int, count: int, buy: bool) -> _Run:
        """Return the entry candidates of a window: the `count` positive levels from index
        nearest down (buys), or from nearest up (sells), nearest first."""
        runs = self._tables(anchor, interval)[1]
        key = (nearest, count, buy)
        found = runs.get(key)
        if found is None:
            found = runs[key] = self._run(anchor, interval, nearest, count, buy)
        return found

    def _run(self, anchor: Decimal, interval: Decimal, nearest: int, count: int, buy: bool) -> _Run:
        if not buy:
            return tuple(self.at(anchor, interval, nearest + n) for n in range(count))
        out: list[Decimal] = []
        for n in range(count):
            level = self.at(anchor, interval, nearest - n)
            if level <= 0:
                break  # nearest first: every later level is lower still
            out.append(level)
        return tuple(out)


MAX_LEVELS = 8192
MAX_SCAN = 1000  # levels a scan for a free one looks at
_RunKey = tuple[int, int, bool]
_Run = tuple[Decimal, ...]
level_table = _Levels()

_Key = tuple[Market, GridConfig, RiskConfig, SymbolRules, Decimal | None, Decimal]


class _LastFrame:
    """The last frame derived and what it was derived from.

    A step decides at one price until nothing changes, then derives its quiet band there: the
    same market, configs and time, and a state whose anchor, position and reduce-only switch
    (all a frame reads of it) placing and cancelling orders leave alone. Every input is held
    here and compared by identity (all frozen; a held object's id is not reused), so a frame
    returned again is the one derived from those very objects. Key and frame are one tuple
    replaced in one assignment: a reader never pairs one call's key with another's frame.
    """

    def __init__(self) -> None:
        self.entry: tuple[_Key, int, Frame] | None = None

    def get(self, key: _Key, now_ms: int) -> Frame | None:
        entry = self.entry
        if entry is None or entry[1] != now_ms:
            return None
        k = entry[0]
        same = k[0] is key[0] and k[1] is key[1] and k[2] is key[2] and k[3] is key[3]
        return entry[2] if same and k[4] is key[4] and k[5] is key[5] else None


_last_frame = _LastFrame()


def frame(
    state: GridState,
    market: Market,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    now_ms: int,
) -> Frame:
    """Return the derived inputs of a decision on market at now_ms."""
    key = (market, config, risk, rules, state.anchor, state.position.qty)
    known = _last_frame.get(key, now_ms)
    if known is not None and known.reduce_only == (state.reduce_only or known.volume_spike):
        return known
    fr = _derive(state, market, config, risk, rules, now_ms)
    _last_frame.entry = (key, now_ms, fr)
    return fr


def _derive(
    state: GridState,
    market: Market,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    now_ms: int,
) -> Frame:
    price = market.price
    if price <= 0:
        raise ValidationError(f"price must be > 0, received {price}")
    anchor = state.anchor
    if anchor is None:
        anchor = max(snap_price(price, rules), rules.tick_size)
    ref = reference_price(price, state.position.qty, config.inventory_skew)
    spike = risk.enable_volume_monitor and volume_spike(
        market.candles, risk.average_window, risk.volume_multiplier
    )
    return Frame(
        price=price,
        anchor=anchor,
        interval=effective_interval(config, rules, market, risk),
        ref=ref,
        # Skew may move the centre but never lets an entry sit within half an interval of the
        # real price (it would cross or be rejected as post-only), so each side's window is
        # measured from whichever of ref and price is farther out on that side.
        buy_ref=min(ref, price),
        sell_ref=max(ref, price),
        stale=now_ms - market.price_ts_ms > risk.stale_after_s * 1000,
        volume_spike=spike,
        reduce_only=state.reduce_only or spike,
    )
