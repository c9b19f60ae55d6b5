"""Reconcile a symbol with the exchange, which is the truth.

Local orders are looked up by client id (filled or cancelled, never just forgotten); orders of
ours unknown locally are adopted, or returned as cancels for the executor (orders we did not
place are never touched); every trade of ours the state has not counted yet — whether its
order is still on a slot, was adopted, or is long gone — is applied once, in the venue's trade
order (trade time, then trade id) across all orders, so average-cost PnL is what it would have
been live; and the position is compared with the exchange's.

After Redis lost the symbol's state, the position is rebuilt from the ledger plus the trades
the ledger lacks, so the ledger and Redis agree again without an operator.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from mmtasks.decimals import canon
from mmtasks.domain import OrderStatus, trade_order
from mmtasks.errors import OperationalError, OrderStillSending, ValidationError
from mmtasks.events import EventType
from mmtasks.grid import models as core
from mmtasks.grid.accounting import apply_fill, position_events
from mmtasks.grid.ids import is_ours, parse_client_order_id
from mmtasks.grid.logic import with_anchor
from mmtasks.grid.transitions import (
    adopt_order,
    apply_order_update,
    find_slot_by_client_id,
    mark_acked,
    mark_rejected,
    rebuild_inventory,
)
from mmtasks.ledger import FillRecord
from mmtasks.state.codec import SymbolStatus
from mmtasks.trading.effects import Effects, fill_effects, settle_order
from mmtasks.trading.snapshot import Snapshot
from mmtasks.venue import Order, Trade, Venue

log = logging.getLogger(__name__)

HELD_RECHECK_MS = 1000  # a create the connector still sends is asked about again this late
# A venue lists a fill's trade a moment after the order shows it executed: a closed order's
# fill is taken from its trade while the order changed this recently (asked again meanwhile),
# from the order itself after that.
TRADE_LISTED_WITHIN_MS = 60_000

DRIFT_HALT_AFTER = 3
# Trades are asked for from a little before the last reconcile (or the newest trade counted):
# a venue may list a trade a little late, or its clock differ from ours.
TRADES_MARGIN_MS = 5 * 60_000
TRADES_PAGE = 1000
# ... and never from further back than this: a reconcile runs every few minutes, and each of
# the venue's trade windows (Binance: 24 hours spot) is one query. An order of ours that filled
# earlier still rests on its slot and is settled from the venue's order (`_settle_slots`).
TRADES_LOOKBACK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class TradeBook:
    """What the step already counted: trade ids in Redis, and the ledger for a lost state.

    `known(ids, in_ledger)` returns the ids among `ids` already applied to the state (with
    in_ledger, also those the ledger holds: after a state loss the ledger is what was counted);
    `ledger()` returns the position folded from the ledger and the newest trade time in it.
    Both may raise a DependencyError while Postgres is down: the step then retries later.
    """

    known: Callable[[list[str], bool], set[str]]
    ledger: Callable[[], tuple[core.Position, int]]


def reconcile(
    venue: Venue,
    snap: Snapshot,
    fx: Effects,
    strategy: core.GridConfig | None,
    rules: core.SymbolRules,
    now_ms: int,
    book: TradeBook,
) -> list[core.Action]:
    """Bring fx's grid in line with the exchange; return the cancels the executor must send."""
    symbol = snap.symbol
    state_lost = fx.grid.anchor is None and not fx.grid.slots
    open_ours = {
        o.client_order_id: o
        for o in venue.open_orders(symbol)
        if is_ours(symbol, o.client_order_id)
    }
    venue_cids = list(open_ours)
    orders, settled = _settle_slots(venue, fx, open_ours, now_ms)
    adopted = 0

    # (after a loss, what the ledger lacks may be older than anything Redis remembers: the
    # venue's newest trades are asked for)
    since_ms = 0 if state_lost else trades_from_ms(snap.record.trades_cursor_ms, now_ms)
    ours = [t for t in trades_since(venue, symbol, since_ms) if is_ours(symbol, t.client_order_id)]
    # Every trade before now is counted once this reconcile commits: the next one looks from
    # here, not from the last trade, which may be days old on a quiet symbol. Noted a margin
    # early (our clock may run ahead of the venue's).
    fx.meta["trades_cursor_ms"] = str(max(now_ms - TRADES_MARGIN_MS, snap.record.trades_cursor_ms))
    if state_lost:
        _raise_generation_floor(fx, [*venue_cids, *(t.client_order_id for t in ours)])
    if state_lost and ours:  # a symbol that traded before: the ledger is what was counted
        position, _ = book.ledger()
        fx.grid = fx.grid.with_position(position)
    cancels: list[core.Action] = []
    for cid, order in open_ours.items():
        if _adopt(fx, order):
            adopted += 1
            orders[cid] = order
        else:
            cancels.append(
                core.CancelOrder(symbol, order.price, cid, order.order_id, "unknown order of ours")
            )
    if fx.grid.anchor is None:
        fx.grid = with_anchor(fx.grid, _recovered_anchor(venue, snap, fx), rules.tick_size)

    missed = _apply_missed_trades(venue, fx, ours, orders, book, via_slots=not state_lost)
    waiting = _settle_closed_orders(fx, orders, now_ms)
    if state_lost and strategy is not None:
        fx.grid = rebuild_inventory(fx.grid, fx.grid.position.qty, strategy, rules)
        fx.event(
            EventType.STATE_REBUILT,
            {"position": canon(fx.grid.position.qty), "trades_from_exchange": missed},
        )
    # Not while a fill is held back (its trade not listed yet): the venue's position shows it
    # and ours not yet, by design; nor for a removed symbol (its position is the operator's).
    if not waiting and fx.meta.get("status", snap.status) != SymbolStatus.REMOVED:
        _check_position(venue, snap, fx)
    counts = {"settled": settled, "adopted": adopted, "cancelled_unknown": len(cancels)}
    fx.event(EventType.RECONCILED, {**counts, "missed_trades": missed, "state_lost": state_lost})
    log.info(
        "reconciled symbol=%s settled=%d adopted=%d cancel_unknown=%d missed_trades=%d%s",
        symbol,
        settled,
        adopted,
        len(cancels),
        missed,
        " state_rebuilt=1" if state_lost else "",
    )
    return cancels


def _settle_slots(
    venue: Venue, fx: Effects, open_ours: dict[str, Order], now_ms: int
) -> tuple[dict[str, Order], int]:
    """Ask the venue about every slot with an order; return those orders and how many.

    A slot whose order the venue never saw (a crash before the send) is freed; a PENDING one
    the venue has is acknowledged. The orders found are taken out of open_ours.
    """
    orders: dict[str, Order] = {}
    settled = 0
    for slot in list(fx.grid.slots.values()):
        cid = slot.client_order_id
        if slot.status == core.SlotStatus.FREE or not cid:
            continue
        try:
            order = open_ours.pop(cid, None) or venue.get_order(fx.grid.symbol, client_order_id=cid)
        except OrderStillSending as exc:  # its create may still land: it stays as it is
            log.info("%s: %s; asked again in %d ms", fx.grid.symbol, exc, HELD_RECHECK_MS)
            fx.meta["needs_reconcile"] = "1"
            # Not at every step meanwhile: each reconcile costs the venue's weight.
            fx.meta["reconcile_after_ms"] = str(now_ms + HELD_RECHECK_MS)
            continue
        settled += 1
        if order is None:
            fx.grid, events = mark_rejected(fx.grid, cid, "not found at the exchange")
            fill_effects(fx, events, order_id="", ts_ms=now_ms)
            continue
        if slot.status == core.SlotStatus.PENDING:
            fx.grid = mark_acked(fx.grid, cid, order.order_id)
        orders[cid] = order
    return orders, settled


def _raise_generation_floor(fx: Effects, venue_cids: list[str]) -> None:
    """After a state loss, never reuse a client id the venue may still know: the floor passes
    every generation the venue still shows (open orders, trades) and the clock."""
    fx.grid = dataclasses.replace(
        fx.grid,
        generation_floor=max(
            fx.grid.generation_floor, int(time.time()), 1 + max(_generations(venue_cids))
        ),
    )


def _generations(cids: list[str]) -> list[int]:
    """Return the generations of our client ids among cids (-1 when there are none)."""
    found = [-1]
    for cid in cids:
        try:
            found.append(parse_client_order_id(cid).generation)
        except ValidationError:
            continue  # another prefix's id, or not canonical: not a generation of ours
    return found


def trades_from_ms(cursor_ms: int, now_ms: int) -> int:
    """Return where a reconcile asks for trades from: a margin before its cursor, at most
    TRADES_LOOKBACK_MS back."""
    return max(0, cursor_ms - TRADES_MARGIN_MS, now_ms - TRADES_LOOKBACK_MS)


def trades_since(venue: Venue, symbol: str, since_ms: int) -> list[Trade]:
    """Return every trade of symbol at or after since_ms, following the venue's pages."""
    seen: dict[str, Trade] = {}
    while True:
        page = venue.trades(symbol, since_ms=since_ms, limit=TRADES_PAGE)
        fresh = [t for t in page if t.trade_id not in seen]
        seen.update((t.trade_id, t) for t in fresh)
        if len(page) < TRADES_PAGE or not fresh:
            return list(seen.values())
        since_ms = max(t.ts_ms for t in page)  # the next page starts at the newest time seen


def _apply_missed_trades(
    venue: Venue,
    fx: Effects,
    ours: list[Trade],
    orders: dict[str, Order],
    book: TradeBook,
    *,
    via_slots: bool,
) -> int:
    """Apply every trade in ours not counted yet, in trade order; return how many.

    The orders were read before the trades: an order that filled in between shows less
    executed than its trades. Such an order is read again before a trade is taken for one the
    slot already holds (counted without the trade's id), so a fresh fill is never skipped.
    """
    symbol = fx.grid.symbol
    if not ours:
        return 0
    known = book.known([t.trade_id for t in ours], not via_slots) | {f.trade_id for f in fx.fills}
    # Every trade of the window is counted after this (known before, or applied below): say so
    # in Redis, so the next reconcile does not need the ledger to know it.
    fx.counted_trades.update({t.trade_id: t.ts_ms for t in ours})
    missed = sorted(
        (t for t in ours if t.trade_id not in known), key=lambda t: trade_order(t.ts_ms, t.trade_id)
    )
    for trade in missed:
        slot = find_slot_by_client_id(fx.grid, trade.client_order_id) if via_slots else None
        order = orders.get(trade.client_order_id)
        if slot is not None and slot.status != core.SlotStatus.FREE:
            cum = slot.filled_qty + trade.quantity
            if order is not None and cum > order.executed_qty:
                # Perhaps only newer than the order we read: ask the venue again.
                order = venue.get_order(symbol, client_order_id=trade.client_order_id) or order
                orders[trade.client_order_id] = order
            if order is not None and cum > order.executed_qty:
                # The slot already holds this quantity (counted without this trade's id).
                log.warning(
                    "%s: trade %s already counted on slot %s; not applied again",
                    symbol,
                    trade.trade_id,
                    slot.key,
                )
                fx.counted_trades[trade.trade_id] = trade.ts_ms
                continue
            full = slot.qty is not None and cum >= slot.qty
            status = OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED
            fx.grid, events = apply_order_update(
                fx.grid,
                client_order_id=trade.client_order_id,
                venue_order_id=trade.order_id,
                status=status,
                cum_qty=cum,
                last_fill_price=trade.price,
                fee=trade.fee,
                trade_id=trade.trade_id,
                now_ms=trade.ts_ms,
            )
            fill_effects(fx, events, order_id=trade.order_id, ts_ms=trade.ts_ms)
        elif _counted_from_order(book, fx, ours, trade):
            log.warning(
                "%s: trade %s already counted from its order %s; not applied again",
                symbol,
                trade.trade_id,
                trade.client_order_id,
            )
            fx.counted_trades[trade.trade_id] = trade.ts_ms
        else:
            _apply_to_position(fx, trade)
    return len(missed)


def _counted_from_order(book: TradeBook, fx: Effects, ours: list[Trade], trade: Trade) -> bool:
    """True when trade's quantity was counted from its order before the trade was listed:
    under an id made of the client id and the order's executed quantity then, which is the
    quantity of its trades up to some trade at or after this one."""
    cid = trade.client_order_id
    made_up, total, reached = [], Decimal(0), False
    for t in sorted(ours, key=lambda t: trade_order(t.ts_ms, t.trade_id)):
        if t.client_order_id != cid:
            continue
        total += t.quantity
        reached = reached or t.trade_id == trade.trade_id
        if reached:
            made_up.append(f"{cid}-{canon(total)}")
    counted = {f.trade_id for f in fx.fills} | book.known(made_up, True)  # the ledger too
    return any(i in counted for i in made_up)


def _apply_to_position(fx: Effects, trade: Trade) -> None:
    """Count a trade whose order no slot holds (state lost, order gone) on the position alone."""
    before = fx.grid.position
    after, realized = apply_fill(before, trade.side, trade.price, trade.quantity, trade.fee)
    fx.grid = fx.grid.with_position(after)
    try:
        level: Decimal | None = parse_client_order_id(trade.client_order_id).level
    except ValidationError:
        level = None
    fx.fills.append(
        FillRecord(
            trade_id=trade.trade_id,
            symbol=trade.symbol,
            order_id=trade.order_id,
            client_order_id=trade.client_order_id,
            side=trade.side.value,
            price=trade.price,
            qty=trade.quantity,
            fee=trade.fee,
            level=level,
            closing=level is not None and level != trade.price,
            ts_ms=trade.ts_ms,
        )
    )
    fx.event(
        EventType.ORDER_FILLED,
        {
            "symbol": trade.symbol,
            "side": trade.side.value,
            "price": canon(trade.price),
            "qty": canon(trade.quantity),
            "fee": canon(trade.fee),
            "trade_id": trade.trade_id,
            "client_order_id": trade.client_order_id,
            "venue_order_id": trade.order_id,
            "realized_pnl_delta": canon(realized),
            "learned_late": True,
        },
    )
    for change in position_events(trade.symbol, before, after, trade.ts_ms):
        fill_effects(fx, [change], order_id=trade.order_id, ts_ms=trade.ts_ms)


def _settle_closed_orders(fx: Effects, orders: dict[str, Order], now_ms: int) -> bool:
    """Settle the slots of the orders the venue closed, but not from an order whose fill's
    trade is not listed yet: asked about again a moment later. Return True if one waits."""
    waiting = False
    for order in orders.values():
        if order.status.is_open:
            continue
        if _trade_not_listed_yet(fx, order, now_ms):
            log.info(
                "%s: order %s closed with a fill its trade list does not show yet; asked again "
                "in %d ms",
                fx.grid.symbol,
                order.client_order_id,
                HELD_RECHECK_MS,
            )
            fx.meta["needs_reconcile"] = "1"
            fx.meta["reconcile_after_ms"] = str(now_ms + HELD_RECHECK_MS)
            waiting = True
            continue
        _settle_closed(fx, order, now_ms)
    return waiting


def _trade_not_listed_yet(fx: Effects, order: Order, now_ms: int) -> bool:
    """True while an order the venue closed shows more executed than its slot counted and
    changed less than TRADE_LISTED_WITHIN_MS ago: its trade (id, price, fee) may not be listed
    yet. Settled from the order now, under an id made of the order's, the fill would be
    counted a second time once its trade shows under the venue's id."""
    slot = find_slot_by_client_id(fx.grid, order.client_order_id)
    if slot is None or slot.status == core.SlotStatus.FREE:
        return False
    recent = order.updated_ms > 0 and now_ms - order.updated_ms < TRADE_LISTED_WITHIN_MS
    return recent and order.executed_qty > slot.filled_qty


def _settle_closed(fx: Effects, order: Order, now_ms: int) -> None:
    """Settle the slot of an order the venue closed (filled, cancelled, expired)."""
    slot = find_slot_by_client_id(fx.grid, order.client_order_id)
    if slot is None or slot.status == core.SlotStatus.FREE:
        return
    settle_order(fx, order, order.status, now_ms, last_fill_price=order.avg_price or None)


def _recovered_anchor(venue: Venue, snap: Snapshot, fx: Effects) -> Decimal:
    """Return an anchor for a state rebuilt from scratch: on the lattice of our live orders.

    Adopted orders sit on levels of the old anchor's lattice, so any of them keeps the grid
    where it was; without any, the newest price starts a fresh lattice.
    """
    if fx.grid.slots:
        return min(slot.level for slot in fx.grid.slots.values())
    if snap.tick is not None:
        return snap.tick.price
    return venue.latest_price(snap.symbol).price


def _adopt(fx: Effects, order: Order) -> bool:
    """Put an open order of ours that we lost track of back on its slot; False if it cannot."""
    try:
        fx.grid = adopt_order(
            fx.grid,
            order.client_order_id,
            order.order_id,
            price=order.price,
            qty=order.quantity,
            executed_qty=order.executed_qty,
        )
    except (ValidationError, OperationalError) as exc:
        log.warning(
            "%s: cancelling order %s that cannot be adopted: %s",
            fx.grid.symbol,
            order.client_order_id,
            exc,
        )
        return False
    return True


def _check_position(venue: Venue, snap: Snapshot, fx: Effects) -> None:
    """Compare the position with the exchange's; a drift that persists halts the symbol."""
    positions = [p for p in venue.positions(snap.symbol) if p.symbol == snap.symbol]
    exchange_qty = positions[0].quantity if positions else Decimal(0)
    drift = exchange_qty - fx.grid.position.qty
    if drift == 0:
        fx.meta["drift_count"] = "0"
        return
    # A fill may be on its way through the stream; only a drift that persists halts.
    count = snap.record.drift_count + 1
    fx.meta["drift_count"] = str(count)
    fx.meta["needs_reconcile"] = "1"
    log.warning(
        "%s: position drift %s (exchange %s, local %s), seen %d time(s)",
        snap.symbol,
        canon(drift),
        canon(exchange_qty),
        canon(fx.grid.position.qty),
        count,
    )
    if count >= DRIFT_HALT_AFTER:
        fx.meta["status"] = SymbolStatus.ERROR
        fx.meta["last_error"] = f"position drift {canon(drift)} persisted over {count} reconciles"
        fx.event(EventType.RISK_LIMIT_BREACHED, {"reason": "position drift", "drift": canon(drift)})
