"""The one place that turns the core's actions into exchange calls.

Intents are already committed (slots PENDING with their client ids) when this runs. A clean
answer settles the slot; a rejection frees it and is recorded (never retried blindly); an
unclear one (timeout, connection lost) leaves it PENDING and asks for a reconcile, which looks
the client id up at the exchange instead of sending again. What to do with an error is asked
of `errors.policy_for`; the first error that is not the venue's "no" stops the batch (a
connector in trouble is not hammered) and is returned, for the step to raise after it has
committed what was done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mmtasks.domain import OrderStatus
from mmtasks.errors import OrderNotFoundError, Response, policy_for
from mmtasks.events import EventType
from mmtasks.faults import crash_point
from mmtasks.grid import models as core
from mmtasks.grid.transitions import (
    find_slot_by_client_id,
    mark_acked,
    mark_rejected,
)
from mmtasks.trading.effects import Effects, fill_effects, settle_order
from mmtasks.venue import Venue

log = logging.getLogger(__name__)


def execute(
    venue: Venue,
    symbol: str,
    actions: list[core.Action],
    fx: Effects,
    now_ms: int,
    hold: Callable[[], None] = lambda: None,
) -> Exception | None:
    """Send actions (cancels first), record each outcome in fx; return the error that stopped.

    hold() is called before each call to the venue: the step renews its lock there, so a step
    whose lock expired (another worker took the symbol) sends nothing more (LockLostError)."""
    try:
        for action in actions:
            if isinstance(action, core.CancelOrder):
                hold()
                _cancel(venue, symbol, action, fx, now_ms)
        places = [a for a in actions if isinstance(a, core.PlaceOrder)]
        if places:
            crash_point("after_intent")
        for action in places:
            hold()
            _place(venue, symbol, action, fx, now_ms)
    except Exception as exc:  # classified by policy_for where the step handles it
        fx.meta["needs_reconcile"] = "1"
        return exc
    return None


def _cancel(venue: Venue, symbol: str, action: core.CancelOrder, fx: Effects, now_ms: int) -> None:
    try:
        order = venue.cancel_order(symbol, client_order_id=action.client_order_id)
    except OrderNotFoundError:
        # Already filled or gone: normal. The order update on the stream settles the slot.
        log.info("%s: cancel of %s found it already closed", symbol, action.client_order_id)
        return
    except Exception as exc:
        log.warning(
            "%s: cancel of %s failed (%s), retried on a later step: %s",
            symbol,
            action.client_order_id,
            policy_for(exc),
            exc,
        )
        raise
    log.info(
        "order cancelled symbol=%s side=%s price=%s client_id=%s reason=%s",
        symbol,
        order.side.value,
        order.price,
        action.client_order_id,
        action.reason,
    )
    slot = find_slot_by_client_id(fx.grid, action.client_order_id)
    # Settle now only when the exchange saw no fill we have not applied yet; otherwise the
    # order update (carrying the trade) settles it and the fill reaches the ledger with its id.
    if slot is not None and order.executed_qty == slot.filled_qty:
        settle_order(
            fx, order, OrderStatus.CANCELED, now_ms, client_order_id=action.client_order_id
        )


def _place(venue: Venue, symbol: str, action: core.PlaceOrder, fx: Effects, now_ms: int) -> None:
    cid = action.client_order_id
    try:
        order, _duplicate = venue.place_order(
            symbol,
            action.side,
            action.price,
            action.qty,
            cid,
            post_only=action.post_only,
            reduce_only=action.reduce_only,
        )
    except Exception as exc:
        if policy_for(exc) in (Response.RECORD, Response.REPORT):  # the venue said no
            fx.grid, events = mark_rejected(fx.grid, cid, str(exc))
            fill_effects(fx, events, order_id="", ts_ms=now_ms)
            log.warning("order rejected symbol=%s client_id=%s reason=%s", symbol, cid, exc)
            return
        # The order may or may not exist: keep the intent, let reconcile ask the exchange.
        log.warning("%s: outcome of order %s unknown (%s); will look it up", symbol, cid, exc)
        raise
    crash_point("after_send")
    if order.status == OrderStatus.REJECTED:
        fx.grid, events = mark_rejected(fx.grid, cid, order.reject_reason or "rejected")
        fill_effects(fx, events, order_id=order.order_id, ts_ms=now_ms)
        return
    fx.grid = mark_acked(fx.grid, cid, order.order_id)
    log.info(
        "order placed symbol=%s side=%s price=%s qty=%s client_id=%s order_id=%s%s",
        symbol,
        action.side.value,
        action.price,
        action.qty,
        cid,
        order.order_id,
        " closing=1" if action.closing else "",
    )
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
