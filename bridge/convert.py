"""Validate connector messages at the edge and turn them into inbox events.

The wire is untrusted here, so each field is checked as text before it becomes a Decimal (the
venue codec trusts its venue); the enum tables and the tick type are the codec's and the
venue's, not copies.

A bad message raises BadMessage with a short reason (used as a metric label) and a detail
saying what was received; nothing about it reaches a queue.
"""

from __future__ import annotations

import time
from collections.abc import Container
from decimal import Decimal

import pydantic

from mmtasks.decimals import parse_decimal
from mmtasks.errors import ValidationError
from mmtasks.messages import CandleEvent, OrderEvent, TradeMsg
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.venue.codec import SIDE_FROM_PB, STATUS_FROM_PB
from mmtasks.venue.types import PriceTick

MAX_MESSAGE_BYTES = 16 * 1024
MAX_ID_LEN = 64
# Timestamps outside [2001, now + 1 day] are a broken clock or a broken message.
MIN_TS_MS = 978_307_200_000
FUTURE_SLACK_MS = 24 * 3600 * 1000


class BadMessage(Exception):
    """A message the bridge refuses: reason is a short label, detail says what was received."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _size(msg: pb.PriceTick | pb.OrderUpdate | pb.Kline) -> None:
    size = msg.ByteSize()
    if size > MAX_MESSAGE_BYTES:
        raise BadMessage("oversized", f"{type(msg).__name__} of {size} bytes")


def _symbol(value: str, known: Container[str]) -> str:
    if value not in known:
        raise BadMessage("unknown_symbol", f"symbol {value!r} is not subscribed")
    return value


def _dec(value: str, field: str, *, positive: bool = False, non_negative: bool = False) -> Decimal:
    try:
        return parse_decimal(value, field, positive=positive, non_negative=non_negative)
    except ValidationError as exc:
        raise BadMessage("bad_decimal", str(exc)) from None


def _ts(value: int, field: str, now_ms: int) -> int:
    if value < MIN_TS_MS or value > now_ms + FUTURE_SLACK_MS:
        raise BadMessage("bad_timestamp", f"{field} {value} is not a sane epoch-ms time")
    return value


def _id(value: str, field: str, *, required: bool = True) -> str:
    if (required and not value) or len(value) > MAX_ID_LEN:
        raise BadMessage(
            "bad_id", f"{field} must be 1-{MAX_ID_LEN} characters, received {value[:80]!r}"
        )
    return value


def tick_from_pb(msg: pb.PriceTick, known: Container[str], now_ms: int | None = None) -> PriceTick:
    """Return a validated tick or raise BadMessage."""
    now_ms = now_ms or int(time.time() * 1000)
    _size(msg)
    return PriceTick(
        symbol=_symbol(msg.symbol, known),
        price=_dec(msg.price, "price", positive=True),
        ts_event_ms=_ts(msg.ts_event_ms, "ts_event_ms", now_ms),
        seq=msg.seq,
    )


def order_event_from_pb(
    msg: pb.OrderUpdate, known: Container[str], now_ms: int | None = None
) -> OrderEvent:
    """Return a validated order event or raise BadMessage."""
    now_ms = now_ms or int(time.time() * 1000)
    _size(msg)
    o = msg.order
    symbol = _symbol(o.symbol, known)
    if o.side not in SIDE_FROM_PB:
        raise BadMessage("unspecified_enum", f"order side {o.side} is not BUY or SELL")
    if o.status not in STATUS_FROM_PB:
        raise BadMessage("unspecified_enum", f"order status {o.status} is not a known status")
    trade = None
    if msg.HasField("last_trade") and msg.last_trade.trade_id:
        t = msg.last_trade
        trade = TradeMsg(
            trade_id=_id(t.trade_id, "trade_id"),
            price=_dec(t.price, "trade price", positive=True),
            quantity=_dec(t.quantity, "trade quantity", positive=True),
            fee=_dec(t.fee or "0", "trade fee", non_negative=True),
            ts_ms=_ts(t.ts_ms, "trade ts_ms", now_ms),
        )
    try:
        return OrderEvent(
            symbol=symbol,
            order_id=_id(o.order_id, "order_id"),
            client_order_id=_id(o.client_order_id, "client_order_id", required=False),
            side=SIDE_FROM_PB[o.side],
            status=STATUS_FROM_PB[o.status],
            price=_dec(o.price or "0", "price", non_negative=True),
            quantity=_dec(o.quantity, "quantity", positive=True),
            executed_qty=_dec(o.executed_qty or "0", "executed_qty", non_negative=True),
            avg_price=_dec(o.avg_price or "0", "avg_price", non_negative=True),
            trade=trade,
            ts_event_ms=_ts(msg.ts_event_ms, "ts_event_ms", now_ms),
        )
    except pydantic.ValidationError as exc:
        raise BadMessage("invalid", str(exc.errors(include_url=False)[:1])) from None


def candle_event_from_pb(
    msg: pb.Kline, known: Container[str], now_ms: int | None = None
) -> CandleEvent:
    """Return a validated candle event or raise BadMessage."""
    now_ms = now_ms or int(time.time() * 1000)
    _size(msg)
    return CandleEvent(
        symbol=_symbol(msg.symbol, known),
        interval=msg.interval or "1m",
        open_ms=_ts(msg.open_ms, "open_ms", now_ms),
        open=_dec(msg.open, "open", positive=True),
        high=_dec(msg.high, "high", positive=True),
        low=_dec(msg.low, "low", positive=True),
        close=_dec(msg.close, "close", positive=True),
        volume=_dec(msg.volume, "volume", non_negative=True),
        closed=msg.closed,
    )
