"""Reconcile a symbol with the exchange, which is the truth.

Local orders are looked up by client id (filled or cancelled, never just forgotten), fills we
missed are applied with their real trade ids, orders of ours unknown locally are adopted or
cancelled (orders we did not place are never touched), and the position is compared.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from decimal import Decimal

from mmtasks.connector.client import ExchangeClient
from mmtasks.connector.models import OrderView
from mmtasks.decimals import ZERO, canon
from mmtasks.domain import OrderStatus
from mmtasks.errors import OperationalError, ValidationError
from mmtasks.events import EventType
from mmtasks.grid import models as core
from mmtasks.grid.ids import is_ours
from mmtasks.grid.logic import with_anchor
from mmtasks.grid.transitions import (
    adopt_order,
    apply_order_update,
    mark_acked,
    mark_rejected,
    rebuild_inventory,
)
from mmtasks.trading.effects import Effects, fill_effects
from mmtasks.trading.snapshot import Snapshot, SymbolStatus

log = logging.getLogger(__name__)

DRIFT_HALT_AFTER = 3


def reconcile(
    client: ExchangeClient,
    snap: Snapshot,
    fx: Effects,
    strategy: core.GridConfig | None,
    rules: core.SymbolRules,
    now_ms: int,
) -> None:
    """Bring fx's grid in line with the exchange's orders, fills and position."""
    symbol = snap.symbol
    state_lost = fx.grid.anchor is None and not fx.grid.slots
    open_ours = {
        o.client_order_id: o
        for o in client.open_orders(symbol)
        if is_ours(symbol, o.client_order_id)
    }
    settled = adopted = cancelled = 0
    for slot in list(fx.grid.slots.values()):
        cid = slot.client_order_id
        if slot.status == core.SlotStatus.FREE or not cid:
            continue
        order = open_ours.pop(cid, None) or client.get_order(symbol, client_order_id=cid)
        if order is None:
            # The intent never reached the exchange (crash before send): free the slot.
            fx.grid, events = mark_rejected(fx.grid, cid, "not found at the exchange")
            fill_effects(fx, events, order_id="", ts_ms=now_ms)
            settled += 1
            continue
        if slot.status == core.SlotStatus.PENDING:
            fx.grid = mark_acked(fx.grid, cid, order.order_id)
        _apply_missed_fills(client, fx, slot, order, now_ms)
        settled += 1

    if state_lost:
        # Ids from before the loss may still be known at the venue: never reuse them.
        fx.grid = dataclasses.replace(
            fx.grid, generation_floor=max(fx.grid.generation_floor, int(time.time()))
        )
    for cid, order in open_ours.items():
        if _adopt(fx, order):
            adopted += 1
        else:
            client.cancel_order(symbol, client_order_id=cid)
            cancelled += 1
    if fx.grid.anchor is None:
        fx.grid = with_anchor(fx.grid, _recovered_anchor(client, snap, fx), rules.tick_size)

    _check_position(client, snap, fx, strategy, rules, state_lost)
    fx.event(
        EventType.RECONCILED,
        {
            "settled": settled,
            "adopted": adopted,
            "cancelled_unknown": cancelled,
            "state_lost": state_lost,
        },
    )
    log.info(
        "%s: reconciled (settled %d, adopted %d, cancelled %d unknown%s)",
        symbol,
        settled,
        adopted,
        cancelled,
        ", state rebuilt" if state_lost else "",
    )


def _apply_missed_fills(
    client: ExchangeClient, fx: Effects, slot: core.Slot, order: OrderView, now_ms: int
) -> None:
    """Apply the fills of order that slot has not seen, trade by trade, then its final status."""
    cid = order.client_order_id
    if order.executed_qty > slot.filled_qty:
        trades = sorted(
            (
                t
                for t in client.trades(order.symbol, since_ms=order.created_ms)
                if t.order_id == order.order_id
            ),
            key=lambda t: (t.ts_ms, t.trade_id),
        )
        cum = Decimal(0)
        for trade in trades:
            cum += trade.quantity
            if cum <= slot.filled_qty:
                continue
            status = OrderStatus.FILLED if cum >= order.quantity else OrderStatus.PARTIALLY_FILLED
            fx.grid, events = apply_order_update(
                fx.grid,
                client_order_id=cid,
                venue_order_id=order.order_id,
                status=status,
                cum_qty=cum,
                last_fill_price=trade.price,
                fee=trade.fee,
                trade_id=trade.trade_id,
                now_ms=now_ms,
            )
            fill_effects(fx, events, order_id=order.order_id, ts_ms=trade.ts_ms)
    if not order.status.is_open:
        fx.grid, events = apply_order_update(
            fx.grid,
            client_order_id=cid,
            venue_order_id=order.order_id,
            status=order.status,
            cum_qty=order.executed_qty,
            last_fill_price=order.avg_price or None,
            fee=ZERO,
            trade_id=None,
            now_ms=now_ms,
        )
        fill_effects(fx, events, order_id=order.order_id, ts_ms=now_ms)


def _recovered_anchor(client: ExchangeClient, snap: Snapshot, fx: Effects) -> Decimal:
    """Return an anchor for a state rebuilt from scratch: on the lattice of our live orders.

    Adopted orders sit on levels of the old anchor's lattice, so any of them keeps the grid
    where it was; without any, the newest price starts a fresh lattice.
    """
    if fx.grid.slots:
        return min(slot.level for slot in fx.grid.slots.values())
    if snap.tick is not None:
        return snap.tick.price
    return client.latest_price(snap.symbol).price


def _adopt(fx: Effects, order: OrderView) -> bool:
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


def _check_position(
    client: ExchangeClient,
    snap: Snapshot,
    fx: Effects,
    strategy: core.GridConfig | None,
    rules: core.SymbolRules,
    state_lost: bool,
) -> None:
    positions = [p for p in client.positions(snap.symbol) if p.symbol == snap.symbol]
    exchange_qty = positions[0].quantity if positions else Decimal(0)
    drift = exchange_qty - fx.grid.position.qty
    if drift == 0:
        fx.meta["drift_count"] = "0"
        return
    if state_lost and positions and strategy is not None:
        pos = positions[0]
        fx.grid = dataclasses.replace(
            fx.grid,
            position=dataclasses.replace(
                fx.grid.position,
                qty=pos.quantity,
                avg_cost=pos.entry_price,
                realized_pnl=pos.realized_pnl,
                fees=pos.fees,
            ),
        )
        fx.grid = rebuild_inventory(fx.grid, pos.quantity, strategy, rules)
        log.warning(
            "%s: state was lost; position %s rebuilt from the exchange",
            snap.symbol,
            canon(pos.quantity),
        )
        return
    # A fill may be on its way through the stream; only a drift that persists halts.
    count = int(snap.meta.get("drift_count", "0") or 0) + 1
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
