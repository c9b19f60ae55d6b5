"""One volume-monitor firing as one exact step: the fast path's shortcut for candle input.

With the default risk config the monitor fires thousands of times a year on 1-minute candles,
and each firing is the same dance: at the close of the spiking candle j the grid turns
reduce-only and cancels its entries; at the close of the next candle k whose verdict flips
back the entries come again with their next generations. The plain loop runs the full core for
it (two decisions per visited point, the slot transitions, the quiet band). `skip_firing` writes
the outcome directly when it can prove it is the same, and otherwise declines (the walk then
visits the rows as usual). What it relies on, with S0 the settled state and B0 its quiet band
(band.py: at any price in B0, with the same candle verdicts, decide(S0) is empty and nothing
fills):

1. Every point from row j to row k's close lies in B0 (floats with the margin, exact Decimals
   at the two closes), the monitor is on exactly from j's close to just before k's close
   (the float verdicts away from any near-tie, as the feature scan uses them), the interval
   is fixed (no ATR), and neither `max_position` nor `max_open_orders` is set.
2. At j's close (reduce-only) decide cancels every entry - none is passed there, which is
   checked - and nothing else: closing orders stay in their cancel window and are not reached
   (B0), and no free slot can place a closing order, because each one with inventory is out of
   its window at S0's price (B0 keeps it out), below zero, or under the minimums - none of
   which depends on the orders cancelled (checked). Entries hold no inventory (checked), so
   freeing them gives no slot anything to close. The confirming decision is empty, and so is
   every decision until k's close (the same argument at each point).
3. At k's close (not reduce-only) the entry candidates are computed at that price exactly as
   decide does. In S0 every candidate was skipped (decide(S0) was empty there); for a candidate
   holding one of S0's entries the reason is gone and it is placed again, at the same price and
   size, with generation max(generation, floor) + 1; the other reasons (a closing order on the
   slot or at its price, inventory, size) do not depend on the entries. No order is marketable
   (B0), so none is rejected or taken. An entry that is no longer a candidate stays cancelled.
   The confirming decision is empty: the state is S0 without some entries out of the window.
4. Afterwards B0 is still the quiet band when every entry came back (the same orders under new
   ids); otherwise the band is computed again.

Firings in a row. When a firing brings every entry back, the state is S0 again but for the
entries' ids, generations and venue ids, and B0 is still its band, so the next firing between
two visits meets the same S0 (the same checks hold, only p1 and p2 differ). `FiringRun` checks
each such firing exactly (the passed test at p1, every entry still a candidate of its side at
p2, both prices in B0) and writes the state once, after the last: each entry at generation
max(generation, floor) + N after N firings (each firing adds one), the venue's ids advanced by
the orders the earlier firings placed and cancelled (counted as placed and cancelled), and the
last firing's orders under the venue ids it gave them, in the order it sent them. Nothing reads
the ids in between: no point is visited and nothing fills until the run is written.

`tests/replay/test_fastforward.py` runs the shortcut against the plain loop on random paths
with frequent firings.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from mmtasks.decimals import ZERO
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.band import Band, quiet_band
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.logic import Frame, buy_levels, reference_price, sell_levels, window_runs
from mmtasks.grid.models import Market, Slot, SlotStatus
from mmtasks.grid.sizing import closing_qty_for
from mmtasks.replay.engine import Engine
from mmtasks.replay.matcher import reaches

# Enum members as module constants: `Side.BUY` is a look-up on the enum class (~65 ns on
# Python 3.11), a module global ~10 ns, and the hot paths read them per order and per slot.
_BUY, _SELL = Side.BUY, Side.SELL
_PENDING, _LOCKED = SlotStatus.PENDING, SlotStatus.LOCKED

PlaceKey = tuple[int, Decimal, str, Decimal]
Survey = tuple[list[tuple[str, Slot]], set[Decimal]]  # S0's entries, closing orders' prices


def applies(engine: Engine) -> bool:
    """Return True when the config leaves firings to this shortcut's proof (see the module)."""
    st, risk = engine.config.strategy, engine.config.risk
    return (
        risk.enable_volume_monitor
        and st.atr_scale == 0
        and risk.max_position is None
        and risk.max_open_orders is None
    )


def _place_key(side: Side, price: Decimal, at: Decimal) -> PlaceKey:
    # mmtasks.grid.logic._place_key: passed orders first (buys highest first, then sells
    # lowest first), then nearest the price first.
    if side is _BUY and price >= at:
        return (0, -price, "", price)
    if side is _SELL and price <= at:
        return (1, price, "", price)
    return (2, abs(price - at), side.value, price)


def _closing_blocked(slot: Slot, fr: Frame, engine: Engine) -> bool:
    # A free slot's closing order cannot be placed at any price of the band, whatever rests.
    st, rules = engine.config.strategy, engine.config.rules
    if slot.inventory > 0:
        price = slot.level + fr.interval
        out = price > fr.sell_ref + st.sell_levels * fr.interval
    else:
        price = slot.level - fr.interval
        out = price < fr.buy_ref - st.buy_levels * fr.interval
    return out or price <= 0 or closing_qty_for(slot.inventory, rules, price) is None


def _survey(engine: Engine, fr: Frame) -> Survey | None:
    # S0's entries and closing prices, or None when S0 is outside the proof (whatever p1, p2).
    grid = engine.grid
    if grid.reduce_only or fr.reduce_only or fr.stale or grid.anchor is None:
        return None
    entries: list[tuple[str, Slot]] = []
    closing_prices: set[Decimal] = set()
    index = grid.index  # the other slots neither rest nor hold inventory
    for key, slot in index.orders.items():
        if slot.status is _PENDING:
            return None
        assert slot.price is not None
        if slot.closing:
            closing_prices.add(slot.price)
            continue
        if slot.inventory != 0 or slot.filled_qty != 0:
            return None
        entries.append((key, slot))
    # The slots past the runs window_runs admits have their closing order outside its window
    # (blocked: the comparison _closing_blocked makes first, on slots sorted by level); only
    # the runs' slots are asked the rest.
    st, i = engine.config.strategy, fr.interval
    sell_top, buy_bottom = fr.sell_ref + st.sell_levels * i, fr.buy_ref - st.buy_levels * i
    k, m = window_runs(index, i, sell_top, buy_bottom)
    for slot in (*index.longs[:k], *index.shorts[m:]):
        if not _closing_blocked(slot, fr, engine):
            return None
    return entries, closing_prices


def _passed(entries: list[tuple[str, Slot]], p1: Decimal) -> bool:
    for _, slot in entries:
        assert slot.price is not None
        if slot.price >= p1 if slot.side is _BUY else slot.price <= p1:
            return True
    return False


def _frame_at(engine: Engine, fr: Frame, p2: Decimal) -> Frame:
    # The frame decide derives at p2: only the price moved (same candles verdict: calm; the
    # interval is fixed without ATR; the position did not change).
    ref = reference_price(p2, engine.grid.position.qty, engine.config.strategy.inventory_skew)
    # dataclasses.replace(fr, price=p2, ref=ref, ...) spelled out: it costs several times more.
    return Frame(
        p2,
        fr.anchor,
        fr.interval,
        ref,
        min(ref, p2),
        max(ref, p2),
        fr.stale,
        fr.volume_spike,
        fr.reduce_only,
    )


def skip_firing(
    engine: Engine,
    fr: Frame,
    band: Band,
    p1: Decimal,
    p2: Decimal,
    survey: Survey | None = None,
) -> tuple[Band | None, Frame] | None:
    """Apply a firing from p1 (monitor on) to p2 (off); return the quiet band after it (None:
    none) and the frame it derives from, or None when the shortcut does not apply.

    The caller has checked that every point in between lies in band and that the monitor is
    on exactly from p1 to just before p2; fr is the frame band was derived from (survey, when
    given, what _survey made of the state and fr). When the shortcut does not apply nothing
    was changed.
    """
    if not (band.contains(p1) and band.contains(p2)):
        return None
    survey = survey or _survey(engine, fr)
    if survey is None:
        return None
    entries, closing_prices = survey
    if not entries or _passed(entries, p1):
        return None  # nothing to cancel (the plain visit is as cheap), or an entry fills
    st = engine.config.strategy
    at_p2 = _frame_at(engine, fr, p2)
    i, a = fr.interval, fr.anchor
    candidates = {level: _BUY for level in buy_levels(a, i, at_p2.buy_ref, st.buy_levels)}
    if st.mode == "neutral":
        for level in sell_levels(a, i, at_p2.sell_ref, st.sell_levels):
            candidates[level] = _SELL
    back: list[tuple[PlaceKey, str, Slot]] = []
    for key, slot in entries:
        side = candidates.get(slot.level)
        if side is None:
            continue
        if side is not slot.side or slot.level in closing_prices:
            return None
        if reaches(side, slot.level, p2, engine.config.fill):
            return None  # B0 rules it out; never place a marketable entry here
        back.append((_place_key(side, slot.level, p2), key, slot))
    back.sort(key=lambda item: item[0])
    _apply(engine, [key for key, _ in entries], [key for _, key, _ in back], 1)
    if len(back) == len(entries):
        return band, fr  # the same orders under new ids: B0 is still the quiet band
    market = Market(p2, 0)  # read for its price only: at_p2 is the frame
    new_band, calls, _ = quiet_band(engine.grid, market, engine.config, at_p2)
    engine.evaluations += calls
    return new_band, at_p2


class FiringRun:
    """Firings in a row that each bring every entry back, written once at the end (module)."""

    def __init__(self, engine: Engine, fr: Frame, band: Band) -> None:
        self.engine, self.fr, self.band = engine, fr, band
        self.count = 0
        self._last_p2 = ZERO
        self._p2s: list[Decimal] = []
        self.survey = _survey(engine, fr)
        survey = self.survey
        self._entries = [] if survey is None else survey[0]
        self._buys = self._indices(_BUY, survey)
        self._sells = self._indices(_SELL, survey)
        # The entries nearest the price on each side: the first the market would pass or reach.
        buys = [s.level for _, s in self._entries if s.side is _BUY]
        sells = [s.level for _, s in self._entries if s.side is _SELL]
        self._top_buy = max(buys) if buys else None
        self._low_sell = min(sells) if sells else None

    def _indices(self, side: Side, survey: Survey | None) -> tuple[Decimal, Decimal] | None:
        # The lowest and highest level index (level = anchor + index x interval) of side's
        # entries; None when there are none, or when the run cannot take a firing at all.
        if survey is None or not self._entries:
            return None
        a, i = self.fr.anchor, self.fr.interval
        indices = []
        for _, slot in self._entries:
            if slot.level in survey[1]:
                self._entries = []  # an entry at a closing order's price: the general step
                return None
            if slot.side is side:
                index = _level_index(slot.level, a, i)
                if index is None:
                    self._entries = []  # not a level of this grid: leave it to the general step
                    return None
                indices.append(index)
        return (min(indices), max(indices)) if indices else None

    def add(self, p1: Decimal, p2: Decimal) -> bool:
        """Count a firing from p1 to p2 when it brings every entry back; False: not counted,
        nothing changed."""
        if not self._entries or not (self.band.contains(p1) and self.band.contains(p2)):
            return False
        top_buy, low_sell = self._top_buy, self._low_sell
        if (top_buy is not None and top_buy >= p1) or (low_sell is not None and low_sell <= p1):
            return False  # an entry passed at p1 (_passed)
        st, fr = self.engine.config.strategy, self.fr
        at_p2 = _frame_at(self.engine, fr, p2)
        i, a = fr.interval, fr.anchor
        # Entry candidates are the levels of index top - buy_levels + 1 .. top (buys) and
        # bottom .. bottom + sell_levels - 1 (sells): logic.buy_levels / sell_levels.
        if self._buys is not None:
            top = _floor_div(at_p2.buy_ref - i / 2 - a, i)
            if not (top - st.buy_levels < self._buys[0] and self._buys[1] <= top):
                return False
        if self._sells is not None:
            if st.mode != "neutral":
                return False
            bottom = -_floor_div(a - (at_p2.sell_ref + i / 2), i)
            if not (bottom <= self._sells[0] and self._sells[1] < bottom + st.sell_levels):
                return False
        fill = self.engine.config.fill
        if (top_buy is not None and reaches(_BUY, top_buy, p2, fill)) or (
            low_sell is not None and reaches(_SELL, low_sell, p2, fill)
        ):
            return False  # B0 rules it out; never place a marketable entry here
        self.count += 1
        self._p2s.append(p2)
        return True

    def write(self) -> None:
        """Write the counted firings into the engine's state and venue."""
        if not self.count:
            return
        keys = [key for key, _ in self._entries]
        try:
            _apply(self.engine, keys, self._order(self._p2s[-1]), self.count)
        except ValidationError:
            # An id too long for its generation: fail exactly where the plain loop fails.
            for p2 in self._p2s:
                _apply(self.engine, keys, self._order(p2), 1)
        self.count = 0
        self._p2s = []

    def _order(self, p2: Decimal) -> list[str]:
        keyed = [(_place_key(s.side, s.level, p2), key) for key, s in self._entries if s.side]
        return [key for _, key in sorted(keyed)]


@lru_cache(maxsize=4096)
def _level_index(level: Decimal, anchor: Decimal, interval: Decimal) -> Decimal | None:
    # k with level = anchor + k x interval exactly (value-keyed: the same levels come back).
    index = (level - anchor) / interval
    if index != index.to_integral_value() or anchor + index * interval != level:
        return None
    return index


def _floor_div(value: Decimal, step: Decimal) -> Decimal:
    # mmtasks.grid.logic._floor_div: divmod on Decimals truncates toward zero.
    quotient, rest = divmod(value, step)
    return quotient - 1 if rest < 0 else quotient


def _apply(engine: Engine, entries: list[str], back: list[str], firings: int) -> None:
    # Cancel the entries (the reduce-only decision at p1), place back those in back (at p2, in
    # the order decide sends them); firings > 1 writes that many firings in a row at once.
    venue, grid, symbol = engine.venue, engine.grid, engine.config.symbol
    slots = dict(grid.slots)  # read as changed below; stored at the end in that order
    changed: list[Slot] = []
    placed: list[tuple[str, Slot, int, str]] = []
    for key in back:  # every id first: a ValidationError leaves everything unchanged
        slot = slots[key]
        assert slot.side is not None
        generation = max(slot.generation, grid.generation_floor) + firings
        placed.append(
            (key, slot, generation, client_order_id(symbol, slot.level, slot.side, generation))
        )
    # The earlier firings' orders, each placed under a venue id and cancelled again.
    venue.churn((firings - 1) * len(back))
    coming_back = set(back)
    for key in entries:
        slot = slots[key]
        assert slot.client_order_id is not None
        venue.withdraw(slot.client_order_id)
        if key not in coming_back:
            slots[key] = slot.freed()
            changed.append(slots[key])
    for key, slot, generation, cid in placed:
        assert slot.side is not None and slot.qty is not None
        venue_id = venue.rest(cid, slot.side, slot.level, slot.qty, False)
        # What mark_pending then mark_acked make of the freed slot.
        slots[key] = Slot(
            slot.level,
            _LOCKED,
            slot.side,
            slot.level,
            slot.qty,
            cid,
            venue_id,
            ZERO,
            False,
            slot.inventory,
            generation,
        )
        changed.append(slots[key])
    engine.grid = grid.with_slots(changed)  # the slot index follows
    engine.firings += firings
    engine.chained += firings - 1
