"""The grid decision: a pure function of (state, market, config, risk, rules, now) to actions.

docs/strategy.md describes the strategy; the comments name the rule each step implements.
The decision's derived inputs (Frame, the levels) live in frame.py and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from mmtasks.decimals import ZERO
from mmtasks.domain import Side
from mmtasks.grid.config import GridConfig, RiskConfig, SymbolRules
from mmtasks.grid.frame import (
    Frame,
    buy_levels,
    effective_interval,
    floor_div,
    frame,
    level_table,
    reference_price,
    sell_levels,
    with_anchor,
)
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    GridState,
    Market,
    PlaceOrder,
    Slot,
    SlotIndex,
    SlotStatus,
)
from mmtasks.grid.sizing import closing_qty_for, order_qty_for

# Enum members as module constants: `Side.BUY` is a look-up on the enum class (~65 ns on
# Python 3.11), a module global ~10 ns, and the hot paths read them per order and per slot.
_BUY, _SELL = Side.BUY, Side.SELL
_FREE, _PENDING, _LOCKED = SlotStatus.FREE, SlotStatus.PENDING, SlotStatus.LOCKED

__all__ = [
    "REASON_MAX_OPEN",
    "REASON_REDUCE_ONLY",
    "REASON_STALE",
    "REASON_WINDOW",
    "Frame",
    "buy_levels",
    "decide",
    "effective_interval",
    "frame",
    "reference_price",
    "sell_levels",
    "window_runs",
    "with_anchor",
]

REASON_WINDOW = "out_of_window"
REASON_REDUCE_ONLY = "reduce_only"
REASON_STALE = "stale_price"
REASON_MAX_OPEN = "max_open_orders"


def _passed(slot: Slot, price: Decimal) -> bool:
    # The price reached this order: its fill is on the way, and a cancel would race it.
    assert slot.price is not None
    return slot.price >= price if slot.side is _BUY else slot.price <= price


def _cancel(state: GridState, slot: Slot, reason: str) -> CancelOrder:
    assert slot.client_order_id is not None
    return CancelOrder(
        symbol=state.symbol,
        level=slot.level,
        client_order_id=slot.client_order_id,
        venue_order_id=slot.venue_order_id,
        reason=reason,
    )


def _place(
    state: GridState,
    slot: Slot,
    side: Side,
    price: Decimal,
    qty: Decimal,
    *,
    post_only: bool,
    reduce_only: bool,
    closing: bool,
) -> PlaceOrder:
    generation = max(slot.generation, state.generation_floor) + 1
    return PlaceOrder(
        symbol=state.symbol,
        level=slot.level,
        side=side,
        price=price,
        qty=qty,
        client_order_id=client_order_id(state.symbol, slot.level, side, generation),
        post_only=post_only,
        reduce_only=reduce_only,
        closing=closing,
        generation=generation,
    )


@dataclass
class _Survey:
    """One pass over the live slots: what rests where, the exposure, the trailing cancels."""

    cancels: dict[str, CancelOrder]
    occupied: set[Decimal]  # prices of our orders: in flight, resting, or being cancelled
    busy: set[Decimal]  # levels whose slot holds an order
    holding: list[Slot] | None  # free slots with inventory (None: the state's index has them)
    exposure: dict[Side, Decimal]  # per side: the position plus every order of ours filling
    # (empty unless a limit weighs it: risk.max_position, or no_new_exposure's zero)
    orders: int  # orders with a price (more than len(occupied): two share a price)


def _survey(
    state: GridState,
    live: Iterable[tuple[str, Slot]],
    fr: Frame,
    config: GridConfig,
    *,
    weigh: bool,
) -> _Survey:
    # GRID.md "Cancelling": a resting order more than one interval beyond its window (the cancel
    # window is one interval wider than the placement window, so a fresh order is never
    # cancelled at once), and entries while stale or reduce-only. An order the price has
    # already passed is left alone: its fill is on the way, and a cancel would race it.
    # The exposure is summed only when weigh (a position limit will read it): two Decimal
    # operations an order, on every decision, for a figure most configs never look at.
    price, stale, reduce_only = fr.price, fr.stale, fr.reduce_only
    buy_cut = fr.buy_ref - (config.buy_levels + 1) * fr.interval
    sell_cut = fr.sell_ref + (config.sell_levels + 1) * fr.interval
    qty0 = state.position.qty
    buying, selling = qty0, -qty0  # each side's exposure, summed in the slots' order
    cancels: dict[str, CancelOrder] = {}
    occupied: set[Decimal] = set()
    busy: set[Decimal] = set()
    holding: list[Slot] = []
    orders = 0
    free, locked, buy = _FREE, _LOCKED, _BUY
    occupy, hold = occupied.add, busy.add
    # Neither stale nor reduce-only (the common case), only the window cancels, and an order
    # beyond its window is never passed: buy_cut < buy_ref <= price, sell_cut > sell_ref >= price
    # (the interval is positive), so the window's comparison alone decides.
    window_only = not stale and not reduce_only
    for key, slot in live:
        status = slot.status
        if status is free:
            holding.append(slot)  # live and free: it holds inventory
            continue
        hold(slot.level)
        side, at = slot.side, slot.price
        if at is not None:
            occupy(at)
            orders += 1
        if weigh and side is not None and slot.qty is not None:
            if side is buy:
                buying += slot.qty - slot.filled_qty
            else:
                selling += slot.qty - slot.filled_qty
        if status is not locked or at is None or side is None:
            continue
        if window_only:
            if (at < buy_cut) if side is buy else (at > sell_cut):
                cancels[key] = _cancel(state, slot, REASON_WINDOW)
            continue
        if (at >= price) if side is buy else (at <= price):
            continue  # passed
        if not slot.closing and stale:
            cancels[key] = _cancel(state, slot, REASON_STALE)
        elif not slot.closing and reduce_only:
            cancels[key] = _cancel(state, slot, REASON_REDUCE_ONLY)
        elif not stale and ((at < buy_cut) if side is buy else (at > sell_cut)):
            cancels[key] = _cancel(state, slot, REASON_WINDOW)
    exposure = {_BUY: buying, _SELL: selling} if weigh else {}
    return _Survey(cancels, occupied, busy, holding, exposure, orders)


def window_runs(
    index: SlotIndex, interval: Decimal, sell_top: Decimal, buy_bottom: Decimal
) -> tuple[int, int]:
    """Return (k, m): index.longs[:k] are the long slots whose closing SELL (level + interval)
    is at or below sell_top, index.shorts[m:] the short ones whose closing BUY (level -
    interval) is at or above buy_bottom. Each is a run of the slots sorted by level (the sums
    grow with the level), found by bisection on the exact comparison."""
    longs, lo, hi = index.longs, 0, len(index.longs)
    while lo < hi:
        mid = (lo + hi) // 2
        if longs[mid].level + interval <= sell_top:
            lo = mid + 1
        else:
            hi = mid
    k = lo
    shorts, lo, hi = index.shorts, 0, len(index.shorts)
    while lo < hi:
        mid = (lo + hi) // 2
        if shorts[mid].level - interval < buy_bottom:
            lo = mid + 1
        else:
            hi = mid
    return k, lo


def _closing_orders(
    state: GridState,
    fr: Frame,
    sv: _Survey,
    *,
    config: GridConfig,
    limit: Decimal | None,
    rules: SymbolRules,
) -> list[PlaceOrder]:
    places: list[PlaceOrder] = []
    occupied, exposure = sv.occupied, sv.exposure
    i = fr.interval
    sell_top = fr.sell_ref + config.sell_levels * i
    buy_bottom = fr.buy_ref - config.buy_levels * i
    # Only a closing order inside its window may be placed (the others are left out before
    # sorting: most inventory waits far from the price). Lower slots first: when a long slot's
    # SELL and a short slot's BUY aim at one free price, the lower slot takes it and the other
    # waits for a later evaluation.
    if sv.holding is None:
        index = state.index
        k, m = window_runs(index, i, sell_top, buy_bottom)
        holding = [*index.longs[:k], *index.shorts[m:]]
    else:
        holding = [
            slot
            for slot in sv.holding
            if (slot.level + i <= sell_top if slot.inventory > 0 else slot.level - i >= buy_bottom)
        ]
    if len(holding) > 1:
        holding.sort(key=_level)
    for slot in holding:
        if slot.inventory > 0:
            side, price = _SELL, slot.level + i
        else:
            side, price = _BUY, slot.level - i
        if price <= 0 or price in occupied:
            continue
        qty = closing_qty_for(slot.inventory, rules, price)
        # A closing order reduces its slot's inventory, but in neutral mode slots can hold
        # opposite inventory, so it may still grow the net position: the limit applies to it too.
        if qty is None or (limit is not None and exposure[side] + qty > limit):
            continue
        # Long mode: the closing SELL is reduce-only (the net position is this inventory).
        # Neutral mode: long and short slots net out at the venue, which would refuse or cancel
        # a reduce-only order whenever the net is flat or the other way, so it is a plain
        # limit. Never post-only: a closing order the market has passed fills at once (taker).
        places.append(
            _place(
                state,
                slot,
                side,
                price,
                qty,
                post_only=False,
                reduce_only=config.mode == "long",
                closing=True,
            )
        )
        occupied.add(price)
        if limit is not None:  # weighed (decide: the limit is set exactly when it weighs)
            exposure[side] += qty
    return places


def _level(slot: Slot) -> Decimal:
    return slot.level


def _is_live(slot: Slot) -> bool:
    return slot.status is not _FREE or slot.inventory != 0


def _entry_orders(
    state: GridState,
    fr: Frame,
    sv: _Survey,
    *,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
) -> list[PlaceOrder]:
    # The candidates of buy_levels (then sell_levels in neutral mode), nearest first, each
    # looked at as it comes: a level a slot's order or one of our prices holds is skipped
    # without looking its slot up (the common case: most candidates rest already).
    # Placing adds only its own level to occupied, and no two candidates share a level (buys
    # lie below ref - i/2, sells above), so the levels held before any placement are the ones
    # to skip; exposure, which placing does change, is checked one candidate at a time.
    a, i = fr.anchor, fr.interval
    occupied, busy = sv.occupied, sv.busy
    todo: list[tuple[Side, Decimal]] = []
    top = floor_div(fr.buy_ref - i / 2 - a, i)
    for level in level_table.run(a, i, int(top), config.buy_levels, True):
        if level not in occupied and level not in busy:
            todo.append((_BUY, level))
    if config.mode == "neutral":
        bottom = -floor_div(a - (fr.sell_ref + i / 2), i)  # ceil
        for level in level_table.run(a, i, int(bottom), config.sell_levels, False):
            if level not in occupied and level not in busy:
                todo.append((_SELL, level))
    places: list[PlaceOrder] = []
    for side, level in todo:
        _entry(state, side, level, sv, places, config=config, risk=risk, rules=rules)
    return places


def _entry(
    state: GridState,
    side: Side,
    level: Decimal,
    sv: _Survey,
    places: list[PlaceOrder],
    *,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
) -> None:
    slot = state.slot_at(level)  # free: a slot holding an order is in busy
    if slot.inventory != 0 and not _entry_allowed(slot, side, rules):
        return
    qty = order_qty_for(config, rules, level)
    if qty is None:
        return
    limit = risk.max_position
    if limit is not None and sv.exposure[side] + qty > limit:
        return
    places.append(
        _place(
            state,
            slot,
            side,
            level,
            qty,
            post_only=config.post_only,
            reduce_only=False,
            closing=False,
        )
    )
    sv.occupied.add(level)
    if limit is not None:
        sv.exposure[side] += qty


def _entry_allowed(slot: Slot, side: Side, rules: SymbolRules) -> bool:
    # docs/strategy.md: entries only on slots without inventory. Exception: dust on the entry's
    # own side (a partial fill too small to close alone) would otherwise block the level
    # forever; the entry stacks on it and the closing order then sells both.
    if slot.inventory == 0:
        return True
    same_side = (slot.inventory > 0) == (side is _BUY)
    probe = slot.level  # a close price near the level is enough to judge the minimums
    return same_side and closing_qty_for(slot.inventory, rules, probe) is None


def _cap_open_orders(
    state: GridState,
    live: Mapping[str, Slot],
    fr: Frame,
    limit: int,
    cancels: dict[str, CancelOrder],
    places: list[PlaceOrder],
) -> list[PlaceOrder]:
    # The `limit` orders nearest the price deserve the seats; resting orders beyond them are
    # cancelled, farthest first. PENDING and passed orders cannot be cancelled safely, so they
    # keep their seats. A new order is sent only into a seat that is free now: an order being
    # cancelled rests until the venue confirms, so the venue never sees more than `limit`.
    pinned = 0
    leaving = 0
    ranked: list[tuple[Decimal, int, str, Decimal, Slot | PlaceOrder]] = []
    for key, slot in live.items():
        if not slot.has_order or slot.price is None or slot.side is None:
            continue
        if key in cancels:
            leaving += 1
        elif slot.status is _PENDING or _passed(slot, fr.price):
            pinned += 1
        else:
            ranked.append((abs(slot.price - fr.price), 0, slot.side.value, slot.price, slot))
    resting = pinned + leaving + len(ranked)
    for place in places:
        ranked.append((abs(place.price - fr.price), 1, place.side.value, place.price, place))
    ranked.sort(key=lambda item: item[:4])
    budget = max(limit - pinned, 0)
    winners: list[PlaceOrder] = []
    for n, (*_, item) in enumerate(ranked):
        if isinstance(item, PlaceOrder):
            if n < budget:
                winners.append(item)
        elif n >= budget:
            cancels[item.key] = _cancel(state, item, REASON_MAX_OPEN)
    return winners[: max(limit - resting, 0)]


def _sort_key(price: Decimal | None, side: Side | None, fr: Frame) -> tuple[Decimal, str, Decimal]:
    # Nearest the price first, so the orders that matter most go out first.
    assert price is not None and side is not None
    return (abs(price - fr.price), side.value, price)


def _place_key(place: PlaceOrder, fr: Frame) -> tuple[int, Decimal, str, Decimal]:
    # Orders the market has already passed fill at once at the price; they go first, in the
    # order a venue matches one tick (buys highest first, then sells lowest first), so the
    # average-cost PnL is the same as the model's. The rest go nearest the price first.
    if place.side is _BUY and place.price >= fr.price:
        return (0, -place.price, "", place.price)
    if place.side is _SELL and place.price <= fr.price:
        return (1, place.price, "", place.price)
    return (2, *_sort_key(place.price, place.side, fr))


def decide(
    state: GridState,
    market: Market,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    now_ms: int,
    *,
    no_new_exposure: bool = False,
) -> list[Action]:
    """Return the cancels, then the places, that bring the grid in line with market at now_ms.

    With no_new_exposure (the fleet is REDUCING) the grid is reduce-only and a closing order is
    placed only if, with every order of ours on its side filled, the net position would not
    grow: in neutral mode a slot's closing order can flip a flat or opposite net position.
    """
    fr = frame(state, market, config, risk, rules, now_ms)
    if no_new_exposure and not fr.reduce_only:
        fr = replace(fr, reduce_only=True)
    live: Mapping[str, Slot] = state.index.orders
    weigh = no_new_exposure or risk.max_position is not None
    sv = _survey(state, live.items(), fr, config, weigh=weigh)
    sv.holding = None  # the index's longs and shorts
    if sv.orders != len(sv.occupied):
        # Two of our orders share a price (never by this decision; an adopted state may):
        # the sorts below could then tie, and ties keep the slots' order.
        live = {key: slot for key, slot in state.slots.items() if _is_live(slot)}
        sv = _survey(state, live.items(), fr, config, weigh=weigh)
    cancels = sv.cancels
    places: list[PlaceOrder] = []
    if not fr.stale:
        limit = ZERO if no_new_exposure else risk.max_position
        if sv.holding is None or sv.holding:
            places = _closing_orders(state, fr, sv, config=config, limit=limit, rules=rules)
        if not fr.reduce_only:
            places += _entry_orders(state, fr, sv, config=config, risk=risk, rules=rules)
        if risk.max_open_orders is not None:
            places = _cap_open_orders(state, live, fr, risk.max_open_orders, cancels, places)
    if not cancels and len(places) < 2:
        return [*places]
    ordered_cancels = [
        cancel
        for _, cancel in sorted(
            cancels.items(),
            key=lambda item: _sort_key(live[item[0]].price, live[item[0]].side, fr),
        )
    ]
    ordered_places = sorted(places, key=lambda p: _place_key(p, fr))
    return [*ordered_cancels, *ordered_places]
