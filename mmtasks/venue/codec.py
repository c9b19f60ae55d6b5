"""The one codec between venue types and the protobuf wire, both directions.

Decimals travel as canonical strings; "" on the wire means an unset field, i.e. zero. The enum
tables here are the only ones: the server, the client and the bridge all read them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_type_hints

from mmtasks.decimals import canon, parse_decimal
from mmtasks.domain import OrderStatus, Side, parse_symbol
from mmtasks.errors import OperationalError, ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.venue import types as vt

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T", bound="DataclassInstance")  # a venue type
M = TypeVar("M")  # its message

ZERO = Decimal(0)

SIDE_TO_PB = {Side.BUY: pb.SIDE_BUY, Side.SELL: pb.SIDE_SELL}
SIDE_FROM_PB = {v: k for k, v in SIDE_TO_PB.items()}
TYPE_TO_PB = {vt.OrderType.LIMIT: pb.ORDER_TYPE_LIMIT, vt.OrderType.MARKET: pb.ORDER_TYPE_MARKET}
TYPE_FROM_PB = {v: k for k, v in TYPE_TO_PB.items()}
TIF_TO_PB = {vt.TimeInForce.GTC: pb.TIME_IN_FORCE_GTC, vt.TimeInForce.IOC: pb.TIME_IN_FORCE_IOC}
TIF_FROM_PB = {v: k for k, v in TIF_TO_PB.items()}
STATUS_TO_PB = {
    OrderStatus.NEW: pb.ORDER_STATUS_NEW,
    OrderStatus.PARTIALLY_FILLED: pb.ORDER_STATUS_PARTIALLY_FILLED,
    OrderStatus.FILLED: pb.ORDER_STATUS_FILLED,
    OrderStatus.CANCELED: pb.ORDER_STATUS_CANCELED,
    OrderStatus.REJECTED: pb.ORDER_STATUS_REJECTED,
    OrderStatus.EXPIRED: pb.ORDER_STATUS_EXPIRED,
}
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}


# -- the field tables -----------------------------------------------------------------------
# A venue type and its message share field names (but order_type, `type` on the wire); a
# Decimal travels as canonical text, an enum through its table. Answers from a venue are trusted
# to be well formed: a side or status outside the tables is a broken venue (OperationalError),
# a missing type or time in force the default. Requests from clients are not: request_from_pb
# names the bad field.


def _d(text: str) -> Decimal:
    return Decimal(text) if text else ZERO


def _enum(table: Mapping[K, V], value: K, what: str) -> V:
    try:
        return table[value]
    except KeyError:
        raise OperationalError(f"venue sent an unknown {what} {value}") from None


WIRE_NAMES = {"order_type": "type"}
ENCODERS: dict[object, Callable[[Any], Any]] = {
    Decimal: canon,
    Side: SIDE_TO_PB.__getitem__,
    vt.OrderType: TYPE_TO_PB.__getitem__,
    vt.TimeInForce: TIF_TO_PB.__getitem__,
    OrderStatus: STATUS_TO_PB.__getitem__,
}
DECODERS: dict[object, Callable[[Any], Any]] = {
    Decimal: _d,
    Side: lambda v: _enum(SIDE_FROM_PB, v, "side"),
    vt.OrderType: lambda v: TYPE_FROM_PB.get(v, vt.OrderType.LIMIT),
    vt.TimeInForce: lambda v: TIF_FROM_PB.get(v, vt.TimeInForce.GTC),
    OrderStatus: lambda v: _enum(STATUS_FROM_PB, v, "order status"),
}


def _same(value: Any) -> Any:
    return value


class _Wire(Generic[T, M]):
    """How one venue type crosses the wire, field by field, from the tables above."""

    def __init__(self, cls: type[T], message: Callable[..., M]) -> None:
        hints = get_type_hints(cls)
        names = [(f.name, WIRE_NAMES.get(f.name, f.name), hints[f.name]) for f in fields(cls)]
        self._cls = cls
        self._message = message
        self._encode = [(name, wire, ENCODERS.get(hint, _same)) for name, wire, hint in names]
        self._decode = [(name, wire, DECODERS.get(hint, _same)) for name, wire, hint in names]

    def to_pb(self, value: T, **given: Any) -> M:
        """Return the message of value; `given` sets wire fields as they are."""
        wire = {w: encode(getattr(value, name)) for name, w, encode in self._encode}
        return self._message(**{**wire, **given})

    def from_pb(self, message: Any, **given: Any) -> T:
        """Return the value of message; `given` sets fields as they are."""
        value = {name: decode(getattr(message, w)) for name, w, decode in self._decode}
        return self._cls(**{**value, **given})


# The types that cross as they are: order_to_pb(order) -> pb.Order, order_from_pb(m) -> Order, ...
_ORDER = _Wire(vt.Order, pb.Order)
order_to_pb, order_from_pb = _ORDER.to_pb, _ORDER.from_pb
_TRADE = _Wire(vt.Trade, pb.Trade)
trade_to_pb, trade_from_pb = _TRADE.to_pb, _TRADE.from_pb
_KLINE = _Wire(vt.Kline, pb.Kline)
kline_to_pb, kline_from_pb = _KLINE.to_pb, _KLINE.from_pb
_POSITION = _Wire(vt.Position, pb.Position)
position_to_pb, position_from_pb = _POSITION.to_pb, _POSITION.from_pb
_RULES = _Wire(vt.SymbolRules, pb.SymbolInfo)
_REQUEST = _Wire(vt.OrderRequest, pb.PlaceOrderRequest)


def rules_to_pb(rules: vt.SymbolRules) -> pb.SymbolInfo:
    """Return the wire form of a symbol's rules."""
    return _RULES.to_pb(
        rules, price_precision=rules.price_precision, qty_precision=rules.qty_precision
    )


def rules_from_pb(m: pb.SymbolInfo) -> vt.SymbolRules:
    """Return the rules of a pb SymbolInfo (precisions follow from tick and step sizes)."""
    # A connector from before capabilities sends none: it served the simulator.
    return _RULES.from_pb(
        m,
        venue=m.venue or "sim",
        post_only=m.post_only or not m.venue,
        reduce_only=m.reduce_only or not m.venue,
        client_id_max_len=m.client_id_max_len or 32,
    )


def update_to_pb(update: vt.OrderUpdate) -> pb.OrderUpdate:
    """Return the wire form of an order update."""
    message = pb.OrderUpdate(
        order=order_to_pb(update.order), ts_event_ms=update.ts_event_ms, seq=update.seq
    )
    if update.last_trade is not None:
        message.last_trade.CopyFrom(trade_to_pb(update.last_trade))
    return message


def update_from_pb(m: pb.OrderUpdate) -> vt.OrderUpdate:
    """Return the order update of a pb OrderUpdate."""
    return vt.OrderUpdate(
        order=order_from_pb(m.order),
        last_trade=trade_from_pb(m.last_trade) if m.HasField("last_trade") else None,
        ts_event_ms=m.ts_event_ms,
        seq=m.seq,
    )


def tick_to_pb(tick: vt.PriceTick) -> pb.PriceTick:
    """Return the wire form of a price tick (the wire has no volume)."""
    return pb.PriceTick(
        symbol=tick.symbol, price=canon(tick.price), ts_event_ms=tick.ts_event_ms, seq=tick.seq
    )


def tick_from_pb(m: pb.PriceTick) -> vt.PriceTick:
    """Return the tick of a pb PriceTick."""
    return vt.PriceTick(symbol=m.symbol, price=_d(m.price), ts_event_ms=m.ts_event_ms, seq=m.seq)


def account_to_pb(account: vt.Account) -> pb.GetAccountResponse:
    """Return the wire form of the account."""
    return pb.GetAccountResponse(
        balances=[
            pb.Balance(asset=b.asset, free=canon(b.free), locked=canon(b.locked))
            for b in account.balances
        ],
        realized_pnl=canon(account.realized_pnl),
        fees=canon(account.fees),
    )


def account_from_pb(m: pb.GetAccountResponse) -> vt.Account:
    """Return the account of a pb GetAccountResponse."""
    return vt.Account(
        balances=tuple(vt.Balance(b.asset, _d(b.free), _d(b.locked)) for b in m.balances),
        realized_pnl=_d(m.realized_pnl),
        fees=_d(m.fees),
    )


# -- order requests: to the wire as they are, from it checked field by field ---------------


def request_to_pb(request: vt.OrderRequest) -> pb.PlaceOrderRequest:
    """Return the wire request of an order (a MARKET order sends no price)."""
    market = request.order_type is vt.OrderType.MARKET
    price = "" if market or request.price is None else canon(request.price)
    return _REQUEST.to_pb(request, price=price)


def _enum_name(enum: Any, value: object) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def _required(table: Mapping[K, V], value: K, enum: Any, field: str) -> V:
    try:
        return table[value]
    except KeyError:
        names = " or ".join(enum.Name(v) for v in table)
        raise ValidationError(
            f"{field} must be {names}, received {_enum_name(enum, value)}"
        ) from None


def request_from_pb(req: pb.PlaceOrderRequest) -> vt.OrderRequest:
    """Return the order request of a client's wire request; ValidationError names a bad field.

    Every field is checked here first; the field table then decodes it like any venue type's.
    """
    if not req.symbol:
        raise ValidationError("symbol is required, received ''")
    _required(SIDE_FROM_PB, req.side, pb.Side, "side")
    order_type = _required(TYPE_FROM_PB, req.type, pb.OrderType, "type")
    _required(TIF_FROM_PB, req.time_in_force, pb.TimeInForce, "time_in_force")
    parse_decimal(req.quantity, "quantity", positive=True)
    price: Decimal | None = None
    if order_type is vt.OrderType.LIMIT:
        price = parse_decimal(req.price, "price", positive=True)
    elif req.price not in ("", "0"):
        raise ValidationError(f"price must be empty for a MARKET order, received {req.price!r}")
    return _REQUEST.from_pb(req, symbol=parse_symbol(req.symbol), price=price)
