"""The grid decision as it was before the core was made faster: the Decimal reference.

A verbatim copy of mmtasks/grid/logic.py at commit d181713 (every slot looked at on every
decision, one pass per question). tests/props/test_core_equals_reference.py checks that the
core that trades (mmtasks.grid.logic.decide) gives the same orders, fills, PnL and fees on
random paths. Not used by any code that trades.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from mmtasks.decimals import ZERO, snap_nearest
from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.config import GridConfig, RiskConfig, SymbolRules, snapped_interval
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.indicators import atr, volume_spike
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    GridState,
    Market,
    PlaceOrder,
    Slot,
    SlotStatus,
)
from mmtasks.grid.sizing import closing_qty_for, order_qty_for, snap_price

REASON_WINDOW = "out_of_window"
REASON_REDUCE_ONLY = "reduce_only"
REASON_STALE = "stale_price"
REASON_MAX_OPEN = "max_open_orders"


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


def _floor_div(value: Decimal, step: Decimal) -> Decimal:
    # divmod on Decimals is exact and truncates toward zero; turn it into a floor.
    quotient, rest = divmod(value, step)
    return quotient - 1 if rest < 0 else quotient


def buy_levels(anchor: Decimal, interval: Decimal, ref: Decimal, count: int) -> list[Decimal]:
    """Return the `count` highest positive levels at or below ref - interval/2, nearest first."""
    top = _floor_div(ref - interval / 2 - anchor, interval)
    levels = (anchor + (top - n) * interval for n in range(count))
    return [level for level in levels if level > 0]


def sell_levels(anchor: Decimal, interval: Decimal, ref: Decimal, count: int) -> list[Decimal]:
    """Return the `count` lowest levels at or above ref + interval/2, nearest first."""
    bottom = -_floor_div(anchor - (ref + interval / 2), interval)  # ceil
    return [anchor + (bottom + n) * interval for n in range(count)]


def frame(
    state: GridState,
    market: Market,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    now_ms: int,
) -> Frame:
    """Return the derived inputs of a decision on market at now_ms."""
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


def _passed(slot: Slot, price: Decimal) -> bool:
    # The price reached this order: its fill is on the way, and a cancel would race it.
    assert slot.price is not None
    return slot.price >= price if slot.side is Side.BUY else slot.price <= price


def _outside_cancel_window(slot: Slot, fr: Frame, config: GridConfig) -> bool:
    # One interval wider than the placement window, so a fresh order is never cancelled at once.
    assert slot.price is not None
    if slot.side is Side.BUY:
        return slot.price < fr.buy_ref - (config.buy_levels + 1) * fr.interval
    return slot.price > fr.sell_ref + (config.sell_levels + 1) * fr.interval


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


def _live_slots(state: GridState) -> dict[str, Slot]:
    # The slots a decision can act on besides the entry candidates: an order in flight or
    # resting, or inventory to close. The others only keep their generation, and the history of
    # every level ever quoted grows with time, so each pass below looks at these alone.
    return {
        key: slot
        for key, slot in state.slots.items()
        if slot.status is not SlotStatus.FREE or slot.inventory != 0
    }


def _trailing_cancels(
    state: GridState, live: Mapping[str, Slot], fr: Frame, config: GridConfig
) -> dict[str, CancelOrder]:
    cancels: dict[str, CancelOrder] = {}
    for key, slot in live.items():
        if slot.status is not SlotStatus.LOCKED or slot.price is None or slot.side is None:
            continue
        if _passed(slot, fr.price):
            continue
        if not slot.closing and fr.stale:
            cancels[key] = _cancel(state, slot, REASON_STALE)
        elif not slot.closing and fr.reduce_only:
            cancels[key] = _cancel(state, slot, REASON_REDUCE_ONLY)
        elif not fr.stale and _outside_cancel_window(slot, fr, config):
            cancels[key] = _cancel(state, slot, REASON_WINDOW)
    return cancels


def _exposure(state: GridState, live: Mapping[str, Slot]) -> dict[Side, Decimal]:
    # Worst case per side: the position plus every order of ours on that side filling.
    exposure = {Side.BUY: state.position.qty, Side.SELL: -state.position.qty}
    for slot in live.values():
        if slot.has_order and slot.side is not None and slot.qty is not None:
            exposure[slot.side] += slot.qty - slot.filled_qty
    return exposure


def _exceeds_max_position(
    limit: Decimal | None, exposure: dict[Side, Decimal], side: Side, qty: Decimal
) -> bool:
    return limit is not None and exposure[side] + qty > limit


def _closing_orders(
    state: GridState,
    live: Mapping[str, Slot],
    fr: Frame,
    *,
    config: GridConfig,
    limit: Decimal | None,
    rules: SymbolRules,
    occupied: set[Decimal],
    exposure: dict[Side, Decimal],
) -> list[PlaceOrder]:
    places = []
    # Lower slots first: when a long slot's SELL and a short slot's BUY aim at one free price,
    # the lower slot takes it and the other waits for a later evaluation.
    holding = [slot for slot in live.values() if not slot.has_order and slot.inventory != 0]
    for slot in sorted(holding, key=lambda s: s.level):
        if slot.inventory > 0:
            side, price = Side.SELL, slot.level + fr.interval
            in_window = price <= fr.sell_ref + config.sell_levels * fr.interval
        else:
            side, price = Side.BUY, slot.level - fr.interval
            in_window = price >= fr.buy_ref - config.buy_levels * fr.interval
        if not in_window or price <= 0 or price in occupied:
            continue
        qty = closing_qty_for(slot.inventory, rules, price)
        # A closing order reduces its slot's inventory, but in neutral mode slots can hold
        # opposite inventory, so it may still grow the net position: the limit applies to it too.
        if qty is None or _exceeds_max_position(limit, exposure, side, qty):
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
        exposure[side] += qty
    return places


def _entry_orders(
    state: GridState,
    fr: Frame,
    *,
    config: GridConfig,
    risk: RiskConfig,
    rules: SymbolRules,
    occupied: set[Decimal],
    exposure: dict[Side, Decimal],
) -> list[PlaceOrder]:
    candidates = [
        (Side.BUY, level)
        for level in buy_levels(fr.anchor, fr.interval, fr.buy_ref, config.buy_levels)
    ]
    if config.mode == "neutral":
        candidates += [
            (Side.SELL, level)
            for level in sell_levels(fr.anchor, fr.interval, fr.sell_ref, config.sell_levels)
        ]
    places = []
    for side, level in candidates:
        slot = state.slot_at(level)
        if slot.has_order or level in occupied or not _entry_allowed(slot, side, rules):
            continue
        qty = order_qty_for(config, rules, level)
        if qty is None:
            continue
        if _exceeds_max_position(risk.max_position, exposure, side, qty):
            continue
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
        occupied.add(level)
        exposure[side] += qty
    return places


def _entry_allowed(slot: Slot, side: Side, rules: SymbolRules) -> bool:
    # docs/strategy.md: entries only on slots without inventory. Exception: dust on the entry's
    # own side (a partial fill too small to close alone) would otherwise block the level
    # forever; the entry stacks on it and the closing order then sells both.
    if slot.inventory == 0:
        return True
    same_side = (slot.inventory > 0) == (side is Side.BUY)
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
        elif slot.status is SlotStatus.PENDING or _passed(slot, fr.price):
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
    if place.side is Side.BUY and place.price >= fr.price:
        return (0, -place.price, "", place.price)
    if place.side is Side.SELL and place.price <= fr.price:
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
    live = _live_slots(state)
    cancels = _trailing_cancels(state, live, fr, config)
    places: list[PlaceOrder] = []
    if not fr.stale:
        # A price never carries two of our orders: in-flight and resting orders (even those
        # being cancelled, until the venue confirms) occupy their price.
        occupied = {
            slot.price for slot in live.values() if slot.has_order and slot.price is not None
        }
        exposure = _exposure(state, live)
        limit = ZERO if no_new_exposure else risk.max_position
        places = _closing_orders(
            state,
            live,
            fr,
            config=config,
            limit=limit,
            rules=rules,
            occupied=occupied,
            exposure=exposure,
        )
        if not fr.reduce_only:
            places += _entry_orders(
                state,
                fr,
                config=config,
                risk=risk,
                rules=rules,
                occupied=occupied,
                exposure=exposure,
            )
        if risk.max_open_orders is not None:
            places = _cap_open_orders(state, live, fr, risk.max_open_orders, cancels, places)
    ordered_cancels = [
        cancel
        for _, cancel in sorted(
            cancels.items(),
            key=lambda item: _sort_key(state.slots[item[0]].price, state.slots[item[0]].side, fr),
        )
    ]
    ordered_places = sorted(places, key=lambda p: _place_key(p, fr))
    return [*ordered_cancels, *ordered_places]
