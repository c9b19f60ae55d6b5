"""The one pb <-> venue-type codec: every type survives the wire, decimals exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import OperationalError, ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.venue import codec
from mmtasks.venue.types import (
    Account,
    Balance,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Position,
    PriceTick,
    SymbolRules,
    TimeInForce,
    Trade,
)

D = Decimal

ORDER = Order(
    symbol="BTCUSDT",
    order_id="42",
    client_order_id="mmBTCb29000g1",
    side=Side.SELL,
    order_type=OrderType.LIMIT,
    time_in_force=TimeInForce.IOC,
    price=D("29000.5"),
    quantity=D("0.00123"),
    executed_qty=D("0.001"),
    avg_price=D("29000.5"),
    status=OrderStatus.PARTIALLY_FILLED,
    post_only=False,
    reduce_only=True,
    created_ms=1_700_000_000_000,
    updated_ms=1_700_000_000_500,
    reject_reason="",
)
TRADE = Trade(
    trade_id="t7",
    order_id="42",
    client_order_id="mmBTCb29000g1",
    symbol="BTCUSDT",
    side=Side.SELL,
    price=D("29000.5"),
    quantity=D("0.001"),
    fee=D("0.0116002"),
    fee_asset="USDT",
    is_maker=True,
    ts_ms=1_700_000_000_500,
)


@pytest.mark.parametrize(
    ("value", "encode", "decode"),
    [
        (ORDER, codec.order_to_pb, codec.order_from_pb),
        (TRADE, codec.trade_to_pb, codec.trade_from_pb),
        (OrderUpdate(ORDER, TRADE, 1_700_000_000_500, 9), codec.update_to_pb, codec.update_from_pb),
        (OrderUpdate(ORDER, None, 1_700_000_000_500, 10), codec.update_to_pb, codec.update_from_pb),
        (
            PriceTick("ETHUSDT", D("2000.01"), 1_700_000_000_000, 3),
            codec.tick_to_pb,
            codec.tick_from_pb,
        ),
        (
            Kline("ETHUSDT", "1m", 60_000, 119_999, D(1), D(3), D("0.5"), D(2), D("10.25"), False),
            codec.kline_to_pb,
            codec.kline_from_pb,
        ),
        (
            Position("BTCUSDT", D("-0.5"), D(30000), D("12.5"), D(-3), D(30006), D("0.75")),
            codec.position_to_pb,
            codec.position_from_pb,
        ),
        (
            Account((Balance("USDT", D("999987.25"), D(0)),), D("12.5"), D("0.75")),
            codec.account_to_pb,
            codec.account_from_pb,
        ),
        (
            SymbolRules("SOLUSDT", "SOL", "USDT", D("0.01"), D("0.001"), D("0.001"), D(1)),
            codec.rules_to_pb,
            codec.rules_from_pb,
        ),
    ],
)
def test_a_venue_value_survives_the_wire(value: object, encode: object, decode: object) -> None:
    wire = encode(value)  # type: ignore[operator]

    assert decode(type(wire).FromString(wire.SerializeToString())) == value  # type: ignore[operator]


def test_decimals_travel_as_canonical_strings() -> None:
    wire = codec.order_to_pb(ORDER)

    assert (wire.price, wire.quantity, wire.executed_qty) == ("29000.5", "0.00123", "0.001")


def test_rules_carry_the_precisions_of_tick_and_step() -> None:
    rules = SymbolRules("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D(5))

    wire = codec.rules_to_pb(rules)

    assert (wire.price_precision, wire.qty_precision) == (2, 5)


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("BTCUSDT", Side.BUY, D("0.001"), D(29000), "c1", post_only=True),
        OrderRequest(
            "ETHUSDT", Side.SELL, D(2), None, "c2", OrderType.MARKET, TimeInForce.IOC, False, True
        ),
    ],
)
def test_an_order_request_survives_the_wire(request_: OrderRequest) -> None:
    assert codec.request_from_pb(codec.request_to_pb(request_)) == request_


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"side": pb.SIDE_UNSPECIFIED},
            "side must be SIDE_BUY or SIDE_SELL, received SIDE_UNSPECIFIED",
        ),
        ({"type": 7}, "type must be ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET, received 7"),
        ({"symbol": ""}, "symbol is required"),
        ({"price": "0"}, "price must be > 0, received 0"),
        ({"type": pb.ORDER_TYPE_MARKET}, "price must be empty for a MARKET order, received '1'"),
    ],
)
def test_a_bad_wire_request_names_its_field(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "symbol": "BTCUSDT",
        "side": pb.SIDE_BUY,
        "type": pb.ORDER_TYPE_LIMIT,
        "time_in_force": pb.TIME_IN_FORCE_GTC,
        "price": "1",
        "quantity": "1",
    }
    fields.update(changes)

    with pytest.raises(ValidationError, match=message):
        codec.request_from_pb(pb.PlaceOrderRequest(**fields))  # type: ignore[arg-type]


def test_an_answer_with_an_unknown_status_is_a_broken_venue() -> None:
    wire = codec.order_to_pb(ORDER)
    wire.status = pb.ORDER_STATUS_UNSPECIFIED

    with pytest.raises(OperationalError, match="unknown order status 0"):
        codec.order_from_pb(wire)


def test_every_enum_member_has_exactly_one_wire_value() -> None:
    tables = [
        (Side, codec.SIDE_TO_PB, codec.SIDE_FROM_PB),
        (OrderType, codec.TYPE_TO_PB, codec.TYPE_FROM_PB),
        (TimeInForce, codec.TIF_TO_PB, codec.TIF_FROM_PB),
        (OrderStatus, codec.STATUS_TO_PB, codec.STATUS_FROM_PB),
    ]
    for enum, to_pb, from_pb in tables:
        assert set(to_pb) == set(enum)
        assert {from_pb[to_pb[m]] for m in enum} == set(enum)  # type: ignore[index]
