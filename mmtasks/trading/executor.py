"""The one place that turns the core's actions into exchange calls.

Intents are already committed (slots PENDING with their client ids) when this runs. A clean
answer settles the slot; an unclear one (timeout, connection lost) leaves it PENDING and asks
for a reconcile, which looks the client id up at the exchange instead of sending again.
"""

from __future__ import annotations

import logging

from mmtasks.connector.client import ExchangeClient
from mmtasks.decimals import ZERO
from mmtasks.domain import OrderStatus
from mmtasks.errors import OrderNotFoundError, OrderRejectedError, ValidationError
from mmtasks.events import EventType
from mmtasks.faults import crash_point
from mmtasks.grid import models as core
from mmtasks.grid.transitions import (
    apply_order_update,
    find_slot_by_client_id,
    mark_acked,
    mark_rejected,
)
from mmtasks.trading.effects import Effects, fill_effects

log = logging.getLogger(__name__)


def execute(
    client: ExchangeClient, symbol: str, actions: list[core.Action], fx: Effects, now_ms: int
) -> None:
    """Send actions to the exchange (cancels first) and record each outcome in fx."""
    for action in actions:
        if isinstance(action, core.CancelOrder):
            _cancel(client, symbol, action, fx, now_ms)
    places = [a for a in actions if isinstance(a, core.PlaceOrder)]
    if places:
        crash_point("after_intent")
    for action in places:
        _place(client, symbol, action, fx, now_ms)


def _cancel(
    client: ExchangeClient, symbol: str, action: core.CancelOrder, fx: Effects, now_ms: int
) -> None:
    try:
        order = client.cancel_order(symbol, client_order_id=action.client_order_id)
    except OrderNotFoundError:
        # Already filled or gone: normal. The order update on the stream settles the slot.
        log.info("%s: cancel of %s found it already closed", symbol, action.client_order_id)
        return
    except Exception as exc:
        log.warning(
            "%s: cancel of %s failed, will retry on the next step: %s",
            symbol,
            action.client_order_id,
            exc,
        )
        return
    slot = find_slot_by_client_id(fx.grid, action.client_order_id)
    # Settle now only when the exchange saw no fill we have not applied yet; otherwise the
    # order update (carrying the trade) settles it and the fill reaches the ledger with its id.
    if slot is not None and order.executed_qty == slot.filled_qty:
        fx.grid, events = apply_order_update(
            fx.grid,
            client_order_id=action.client_order_id,
            venue_order_id=order.order_id,
            status=OrderStatus.CANCELED,
            cum_qty=order.executed_qty,
            last_fill_price=None,
            fee=ZERO,
            trade_id=None,
            now_ms=now_ms,
        )
        fill_effects(fx, events, order_id=order.order_id, ts_ms=now_ms)


def _place(
    client: ExchangeClient, symbol: str, action: core.PlaceOrder, fx: Effects, now_ms: int
) -> None:
    cid = action.client_order_id
    try:
        order, _duplicate = client.place_order(
            symbol,
            action.side,
            action.price,
            action.qty,
            cid,
            post_only=action.post_only,
            reduce_only=action.reduce_only,
        )
    except (ValidationError, OrderRejectedError) as exc:
        fx.grid, events = mark_rejected(fx.grid, cid, str(exc))
        fill_effects(fx, events, order_id="", ts_ms=now_ms)
        log.warning("%s: order %s rejected: %s", symbol, cid, exc)
        return
    except Exception as exc:
        # The order may or may not exist: keep the intent, let reconcile ask the exchange.
        fx.meta["needs_reconcile"] = "1"
        log.warning("%s: outcome of order %s unknown (%s); will look it up", symbol, cid, exc)
        return
    crash_point("after_send")
    if order.status == OrderStatus.REJECTED:
        fx.grid, events = mark_rejected(fx.grid, cid, order.reject_reason or "rejected")
        fill_effects(fx, events, order_id=order.order_id, ts_ms=now_ms)
        return
    fx.grid = mark_acked(fx.grid, cid, order.order_id)
    fx.event(
        EventType.ORDER_CREATED,
        {
            "client_order_id": cid,
            "order_id": order.order_id,
            "side": action.side.value,
            "price": str(action.price),
            "qty": str(action.qty),
            "closing": action.closing,
        },
    )
