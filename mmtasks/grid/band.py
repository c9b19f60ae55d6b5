"""The quiet band: the prices at which the settled grid would neither fill nor act.

After the core has settled at a price (its last decision changed nothing), it decides the same
way at any price p' that moves no threshold the decision depends on. This module derives those
thresholds from the state with exact Decimals (GRID.md "Decisions"):

- no resting order is reached (strict: p' may equal a buy's price; touch: it may not);
- no resting order leaves its cancel window (one interval wider than the placement window);
- no free slot's closing order comes into its window;
- the entry candidates stay the same levels (the window does not move);
- with `max_open_orders` and entries waiting for a seat, the order of distances stays the same.

Anything the band does not model (an order in flight, reduce-only with an entry resting, a skew
that turns the reference price non-positive) gives no band: the next point is simply visited.

Replay skips the candles inside a band (replay/fastforward.py); the worker stores its band so
the bridge sends no price task for a tick inside it (trading/advance.py, bridge/tick.lua).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from mmtasks.domain import Side
from mmtasks.grid.config import RiskConfig, SymbolRules
from mmtasks.grid.frame import level_table
from mmtasks.grid.logic import Frame, decide, frame, window_runs
from mmtasks.grid.models import GridConfig, GridState, Market, SlotStatus
from mmtasks.grid.quickinit import quick_init


@quick_init
@dataclass(frozen=True)
class Band:
    """An interval of prices; each end may be open or closed, None means unbounded."""

    lo: Decimal | None = None
    lo_closed: bool = False
    hi: Decimal | None = None
    hi_closed: bool = False

    def contains(self, price: Decimal) -> bool:
        """Return True when price lies inside the band."""
        if self.lo is not None and (price < self.lo or (price == self.lo and not self.lo_closed)):
            return False
        return not (
            self.hi is not None and (price > self.hi or (price == self.hi and not self.hi_closed))
        )

    def above(self, value: Decimal, closed: bool) -> Band:
        """Return the band with the lower bound raised to value (if higher)."""
        if self.lo is None or value > self.lo or (value == self.lo and not closed):
            return Band(value, closed, self.hi, self.hi_closed)
        return self

    def below(self, value: Decimal, closed: bool) -> Band:
        """Return the band with the upper bound lowered to value (if lower)."""
        if self.hi is None or value < self.hi or (value == self.hi and not closed):
            return Band(self.lo, self.lo_closed, value, closed)
        return self


def _floor_div(value: Decimal, step: Decimal) -> Decimal:
    quotient, rest = divmod(value, step)
    return quotient - 1 if rest < 0 else quotient


def _entry_bounds(
    ref: Decimal, a: Decimal, i: Decimal, count: int, taken: set[Decimal], *, buy: bool
) -> tuple[Decimal | None, Decimal | None]:
    """Return the reference prices at which a free level would join the entry candidates.

    Buys: candidates are the `count` levels below ref - i/2, so moving up by a bucket adds the
    level above the top, moving down adds one below the bottom. Levels already taken add
    nothing, so the bound is the first bucket that brings a free level in. The returned lower
    bound is closed and the upper open for buys; the reverse for sells (ceil instead of floor).
    """
    free = level_table.first_free
    if buy:
        top = _floor_div(ref - i / 2 - a, i)
        t = int(top)
        up = free(a, i, t, 1, taken)
        down = free(a, i, t - count + 1, -1, taken)
        hi = None if up is None else a + (top + up) * i + i / 2
        lo = None if down is None else a + (top - down + 1) * i + i / 2
        return lo, hi
    bottom = -_floor_div(a - (ref + i / 2), i)
    b = int(bottom)
    down = free(a, i, b, -1, taken)
    up = free(a, i, b + count - 1, 1, taken)
    lo = None if down is None else a + (bottom - down) * i - i / 2
    hi = None if up is None else a + (bottom + up - 1) * i - i / 2
    return lo, hi


FillMode = Literal["strict", "touch"]


class Setup(Protocol):
    """What a band depends on besides the state and the market: the symbol's configs, and how
    a resting order fills ("strict": the price must pass it; "touch": reaching it fills).
    Replay's `Config` is one; the worker builds a `LiveSetup`."""

    @property
    def strategy(self) -> GridConfig: ...

    @property
    def risk(self) -> RiskConfig: ...

    @property
    def rules(self) -> SymbolRules: ...

    @property
    def fill(self) -> FillMode: ...


@quick_init
@dataclass(frozen=True)
class LiveSetup:
    """A Setup for the worker: the venue fills, so a price reaching an order changes nothing
    by itself; "strict" keeps the band short of every resting order all the same."""

    strategy: GridConfig
    risk: RiskConfig
    rules: SymbolRules
    fill: FillMode = "strict"


def quiet_band(
    engine_grid: GridState, market: Market, cfg: Setup, known: Frame | None = None
) -> tuple[Band | None, int, Frame]:
    """Return the band around market.price where nothing changes, the core calls it took and
    the frame (derived inputs) of the decision it is the band of.

    known is that frame when the caller has derived it already (then the market's candles are
    not read; with `max_open_orders` they would be, so known is refused there).
    """
    st, risk = cfg.strategy, cfg.risk
    if known is not None and risk.max_open_orders is not None:
        raise ValueError("quiet_band: a known frame needs max_open_orders unset")
    fr = known or frame(engine_grid, market, st, risk, cfg.rules, market.price_ts_ms)
    if fr.stale:
        return None, 0, fr
    # buy_ref and sell_ref are the price times a constant while the position does not change.
    scale = 1 - st.inventory_skew * engine_grid.position.qty
    if scale <= 0:
        return None, 0, fr
    cb, cs = min(scale, Decimal(1)), max(scale, Decimal(1))
    found = _order_band(engine_grid, fr, st, cfg.fill == "strict", cb, cs)
    if found is None:
        return None, 0, fr
    band = _entry_band(found[0], fr, st, found[1], cb, cs)
    seated, calls = _seat_band(band, engine_grid, market, cfg, fr, cb, cs)
    if seated is None or not seated.contains(fr.price):
        return None, calls, fr
    return seated, calls, fr


def _order_band(
    engine_grid: GridState, fr: Frame, st: GridConfig, strict: bool, cb: Decimal, cs: Decimal
) -> tuple[Band, set[Decimal]] | None:
    """Return the band where no resting order fills or leaves its cancel window and no free
    slot's closing order enters its window, and the levels taken (None: no band)."""
    i = fr.interval
    wb, ws = st.buy_levels, st.sell_levels
    # One pass gathers each side's extreme prices and the levels taken (levels where no entry
    # can be placed: the slot has an order, or one of our orders rests at that price); the
    # bounds follow from the extremes. A buy bounds the band below at its price (reached:
    # filled) and above where it leaves its cancel window, (price + (wb + 1) i) / cb, a sell
    # the other way round: the nearest buy and the farthest one are all that matter, and the
    # division (rounded, so monotonic) is done once per side instead of once per order.
    taken: set[Decimal] = set()
    top_buy: Decimal | None = None
    low_buy: Decimal | None = None
    top_sell: Decimal | None = None
    low_sell: Decimal | None = None
    # A free slot's closing order comes into its window when the reference moves to it: the
    # nearest such slot of each side bounds the band (its value divided by cs or cb below).
    ws_i, wb_i = ws * i, wb * i
    sell_top, buy_bottom = fr.sell_ref + ws_i, fr.buy_ref - wb_i
    # The nearest such slot of each side: just past the run its window admits (window_runs).
    index = engine_grid.index
    k, m = window_runs(index, i, sell_top, buy_bottom)
    near_long = index.longs[k].level + i - ws_i if k < len(index.longs) else None
    near_short = index.shorts[m - 1].level - i + wb_i if m > 0 else None
    pending, buy, reduce_only, add = SlotStatus.PENDING, Side.BUY, fr.reduce_only, taken.add
    for slot in index.orders.values():  # the others neither rest nor hold inventory
        if slot.status is pending:
            return None
        price = slot.price
        add(slot.level)
        if price is None:
            continue
        add(price)
        if reduce_only and not slot.closing:
            return None
        if slot.side is buy:
            if top_buy is None or price > top_buy:
                top_buy = price
            if low_buy is None or price < low_buy:
                low_buy = price
        else:
            if top_sell is None or price > top_sell:
                top_sell = price
            if low_sell is None or price < low_sell:
                low_sell = price
    lo, lo_closed = _side_bounds(top_buy, top_sell, -(ws + 1) * i, cs, strict, lower=True)
    hi, hi_closed = _side_bounds(low_sell, low_buy, (wb + 1) * i, cb, strict, lower=False)
    if near_long is not None:
        value = near_long / cs
        if hi is None or value <= hi:
            hi, hi_closed = value, False
    if near_short is not None:
        value = near_short / cb
        if lo is None or value >= lo:
            lo, lo_closed = value, False
    return Band(lo, lo_closed, hi, hi_closed), taken


def _side_bounds(
    reached: Decimal | None,
    leaving: Decimal | None,
    shift: Decimal,
    scale: Decimal,
    strict: bool,
    *,
    lower: bool,
) -> tuple[Decimal | None, bool]:
    """Return one end of the order band and whether it is closed: the nearest order price the
    market reaches (closed when strict) or where the farthest order of the other side leaves
    its cancel window, (leaving + shift) / scale (closed), whichever is nearer; a tie counts
    as the reached order's (it fills there)."""
    other = None if leaving is None else (leaving + shift) / scale
    if reached is None:
        return other, other is not None
    if other is None:
        return reached, strict
    nearer = reached >= other if lower else reached <= other
    return (reached, strict) if nearer else (other, True)


def _entry_band(
    band: Band, fr: Frame, st: GridConfig, taken: set[Decimal], cb: Decimal, cs: Decimal
) -> Band:
    """Narrow band to where no entry would be placed (buys, and sells in neutral mode)."""
    if fr.reduce_only:
        return band
    i, a = fr.interval, fr.anchor
    lo_b, hi_b = _entry_bounds(fr.buy_ref, a, i, st.buy_levels, taken, buy=True)
    if lo_b is not None:
        band = band.above(lo_b / cb, True)
    if hi_b is not None:
        band = band.below(hi_b / cb, False)
    if st.mode == "neutral":
        lo_s, hi_s = _entry_bounds(fr.sell_ref, a, i, st.sell_levels, taken, buy=False)
        if lo_s is not None:
            band = band.above(lo_s / cs, False)
        if hi_s is not None:
            band = band.below(hi_s / cs, True)
    return band


def _seat_band(
    band: Band,
    engine_grid: GridState,
    market: Market,
    cfg: Setup,
    fr: Frame,
    cb: Decimal,
    cs: Decimal,
) -> tuple[Band | None, int]:
    """With max_open_orders, keep band where the nearest orders keep their seats; return it
    (None: no band) and the core calls it took."""
    st, risk = cfg.strategy, cfg.risk
    if risk.max_open_orders is None:
        return band, 0
    uncapped = risk.model_copy(update={"max_open_orders": None})
    if not decide(engine_grid, market, st, uncapped, cfg.rules, market.price_ts_ms):
        return band, 1
    # Entries wait for a seat: which order is nearer the price must not change.
    if st.atr_scale > 0:
        return None, 1
    i, a = fr.interval, fr.anchor
    half = i / 2
    k = _floor_div(fr.price - a, half)
    if a + k * half == fr.price:
        return None, 1
    band = band.above(a + k * half, False).below(a + (k + 1) * half, False)
    return _waiting_closing_band(band, engine_grid, fr, st, cb, cs), 1


def _waiting_closing_band(
    band: Band, engine_grid: GridState, fr: Frame, st: GridConfig, cb: Decimal, cs: Decimal
) -> Band:
    """Narrow band to where every free slot's closing order its window admits stays inside.

    Such an order waits (for a seat, or a free price) and competes for the seats: once the
    reference leaves its window it competes no more, and another order takes its seat (the
    order band only bounds where one comes into its window). A long slot's SELL at level + i
    is inside while sell_ref >= level + i - ws x i, a short slot's BUY at level - i while
    buy_ref <= level - i + wb x i; the highest such long and the lowest such short bound the
    band, open (the divisions are rounded).
    """
    i = fr.interval
    ws_i, wb_i = st.sell_levels * i, st.buy_levels * i
    index = engine_grid.index
    k, m = window_runs(index, i, fr.sell_ref + ws_i, fr.buy_ref - wb_i)
    if k > 0:
        band = band.above((index.longs[k - 1].level + i - ws_i) / cs, False)
    if m < len(index.shorts):
        band = band.below((index.shorts[m].level - i + wb_i) / cb, False)
    return band
