from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    TIME_IN_FORCE_GTC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_IOC: _ClassVar[TimeInForce]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_LIMIT: OrderType
ORDER_TYPE_MARKET: OrderType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
TIME_IN_FORCE_GTC: TimeInForce
TIME_IN_FORCE_IOC: TimeInForce
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_NEW: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_CANCELED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus

class Order(_message.Message):
    __slots__ = ("symbol", "order_id", "client_order_id", "side", "type", "time_in_force", "price", "quantity", "executed_qty", "avg_price", "status", "post_only", "reduce_only", "created_ms", "updated_ms", "reject_reason")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POST_ONLY_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    order_id: str
    client_order_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: str
    quantity: str
    executed_qty: str
    avg_price: str
    status: OrderStatus
    post_only: bool
    reduce_only: bool
    created_ms: int
    updated_ms: int
    reject_reason: str
    def __init__(self, symbol: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., type: _Optional[_Union[OrderType, str]] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., price: _Optional[str] = ..., quantity: _Optional[str] = ..., executed_qty: _Optional[str] = ..., avg_price: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., post_only: _Optional[bool] = ..., reduce_only: _Optional[bool] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., reject_reason: _Optional[str] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("trade_id", "order_id", "client_order_id", "symbol", "side", "price", "quantity", "fee", "fee_asset", "is_maker", "ts_ms")
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_ASSET_FIELD_NUMBER: _ClassVar[int]
    IS_MAKER_FIELD_NUMBER: _ClassVar[int]
    TS_MS_FIELD_NUMBER: _ClassVar[int]
    trade_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: str
    quantity: str
    fee: str
    fee_asset: str
    is_maker: bool
    ts_ms: int
    def __init__(self, trade_id: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., price: _Optional[str] = ..., quantity: _Optional[str] = ..., fee: _Optional[str] = ..., fee_asset: _Optional[str] = ..., is_maker: _Optional[bool] = ..., ts_ms: _Optional[int] = ...) -> None: ...

class PriceTick(_message.Message):
    __slots__ = ("symbol", "price", "ts_event_ms", "seq")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_MS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    price: str
    ts_event_ms: int
    seq: int
    def __init__(self, symbol: _Optional[str] = ..., price: _Optional[str] = ..., ts_event_ms: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class PriceTicks(_message.Message):
    __slots__ = ("ticks",)
    TICKS_FIELD_NUMBER: _ClassVar[int]
    ticks: _containers.RepeatedCompositeFieldContainer[PriceTick]
    def __init__(self, ticks: _Optional[_Iterable[_Union[PriceTick, _Mapping]]] = ...) -> None: ...

class Kline(_message.Message):
    __slots__ = ("symbol", "interval", "open_ms", "close_ms", "open", "high", "low", "close", "volume", "closed")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    OPEN_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSE_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    open_ms: int
    close_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    closed: bool
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., open_ms: _Optional[int] = ..., close_ms: _Optional[int] = ..., open: _Optional[str] = ..., high: _Optional[str] = ..., low: _Optional[str] = ..., close: _Optional[str] = ..., volume: _Optional[str] = ..., closed: _Optional[bool] = ...) -> None: ...

class OrderUpdate(_message.Message):
    __slots__ = ("order", "last_trade", "ts_event_ms", "seq")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADE_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_MS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    order: Order
    last_trade: Trade
    ts_event_ms: int
    seq: int
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., last_trade: _Optional[_Union[Trade, _Mapping]] = ..., ts_event_ms: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("symbol", "quantity", "entry_price", "realized_pnl", "unrealized_pnl", "mark_price", "fees")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    MARK_PRICE_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    quantity: str
    entry_price: str
    realized_pnl: str
    unrealized_pnl: str
    mark_price: str
    fees: str
    def __init__(self, symbol: _Optional[str] = ..., quantity: _Optional[str] = ..., entry_price: _Optional[str] = ..., realized_pnl: _Optional[str] = ..., unrealized_pnl: _Optional[str] = ..., mark_price: _Optional[str] = ..., fees: _Optional[str] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("asset", "free", "locked")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    asset: str
    free: str
    locked: str
    def __init__(self, asset: _Optional[str] = ..., free: _Optional[str] = ..., locked: _Optional[str] = ...) -> None: ...

class SymbolInfo(_message.Message):
    __slots__ = ("symbol", "base_asset", "quote_asset", "tick_size", "step_size", "min_qty", "min_notional", "price_precision", "qty_precision", "maker_fee_rate", "taker_fee_rate", "venue", "spot", "post_only", "reduce_only", "client_id_max_len")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BASE_ASSET_FIELD_NUMBER: _ClassVar[int]
    QUOTE_ASSET_FIELD_NUMBER: _ClassVar[int]
    TICK_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_QTY_FIELD_NUMBER: _ClassVar[int]
    MIN_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    PRICE_PRECISION_FIELD_NUMBER: _ClassVar[int]
    QTY_PRECISION_FIELD_NUMBER: _ClassVar[int]
    MAKER_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    TAKER_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    SPOT_FIELD_NUMBER: _ClassVar[int]
    POST_ONLY_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_MAX_LEN_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: str
    step_size: str
    min_qty: str
    min_notional: str
    price_precision: int
    qty_precision: int
    maker_fee_rate: str
    taker_fee_rate: str
    venue: str
    spot: bool
    post_only: bool
    reduce_only: bool
    client_id_max_len: int
    def __init__(self, symbol: _Optional[str] = ..., base_asset: _Optional[str] = ..., quote_asset: _Optional[str] = ..., tick_size: _Optional[str] = ..., step_size: _Optional[str] = ..., min_qty: _Optional[str] = ..., min_notional: _Optional[str] = ..., price_precision: _Optional[int] = ..., qty_precision: _Optional[int] = ..., maker_fee_rate: _Optional[str] = ..., taker_fee_rate: _Optional[str] = ..., venue: _Optional[str] = ..., spot: _Optional[bool] = ..., post_only: _Optional[bool] = ..., reduce_only: _Optional[bool] = ..., client_id_max_len: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("symbol", "side", "type", "time_in_force", "price", "quantity", "client_order_id", "post_only", "reduce_only")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ONLY_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: str
    quantity: str
    client_order_id: str
    post_only: bool
    reduce_only: bool
    def __init__(self, symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., type: _Optional[_Union[OrderType, str]] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., price: _Optional[str] = ..., quantity: _Optional[str] = ..., client_order_id: _Optional[str] = ..., post_only: _Optional[bool] = ..., reduce_only: _Optional[bool] = ...) -> None: ...

class PlaceOrderResponse(_message.Message):
    __slots__ = ("order", "duplicate")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    order: Order
    duplicate: bool
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class BatchPlaceOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[PlaceOrderRequest]
    def __init__(self, orders: _Optional[_Iterable[_Union[PlaceOrderRequest, _Mapping]]] = ...) -> None: ...

class PlaceOrderResult(_message.Message):
    __slots__ = ("order", "duplicate", "error")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    order: Order
    duplicate: bool
    error: Error
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., duplicate: _Optional[bool] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class BatchPlaceOrdersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PlaceOrderResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PlaceOrderResult, _Mapping]]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("symbol", "order_id", "client_order_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    order_id: str
    client_order_id: str
    def __init__(self, symbol: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class BatchCancelOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[CancelOrderRequest]
    def __init__(self, orders: _Optional[_Iterable[_Union[CancelOrderRequest, _Mapping]]] = ...) -> None: ...

class CancelOrderResult(_message.Message):
    __slots__ = ("order", "error")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    order: Order
    error: Error
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class BatchCancelOrdersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CancelOrderResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CancelOrderResult, _Mapping]]] = ...) -> None: ...

class CancelAllOrdersRequest(_message.Message):
    __slots__ = ("symbol", "client_order_id_prefix")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_PREFIX_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    client_order_id_prefix: str
    def __init__(self, symbol: _Optional[str] = ..., client_order_id_prefix: _Optional[str] = ...) -> None: ...

class CancelAllOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("symbol", "order_id", "client_order_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    order_id: str
    client_order_id: str
    def __init__(self, symbol: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOpenOrdersRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetOpenOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class GetPositionsRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetPositionsResponse(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("balances", "realized_pnl", "fees")
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    realized_pnl: str
    fees: str
    def __init__(self, balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ..., realized_pnl: _Optional[str] = ..., fees: _Optional[str] = ...) -> None: ...

class GetSymbolInfoRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetSymbolInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: SymbolInfo
    def __init__(self, info: _Optional[_Union[SymbolInfo, _Mapping]] = ...) -> None: ...

class GetLatestPriceRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetLatestPriceResponse(_message.Message):
    __slots__ = ("tick",)
    TICK_FIELD_NUMBER: _ClassVar[int]
    tick: PriceTick
    def __init__(self, tick: _Optional[_Union[PriceTick, _Mapping]] = ...) -> None: ...

class GetHistoricalKlinesRequest(_message.Message):
    __slots__ = ("symbol", "interval", "limit", "end_ms")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    limit: int
    end_ms: int
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., limit: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class GetHistoricalKlinesResponse(_message.Message):
    __slots__ = ("klines",)
    KLINES_FIELD_NUMBER: _ClassVar[int]
    klines: _containers.RepeatedCompositeFieldContainer[Kline]
    def __init__(self, klines: _Optional[_Iterable[_Union[Kline, _Mapping]]] = ...) -> None: ...

class GetTradesRequest(_message.Message):
    __slots__ = ("symbol", "since_ms", "limit")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    since_ms: int
    limit: int
    def __init__(self, symbol: _Optional[str] = ..., since_ms: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetTradesResponse(_message.Message):
    __slots__ = ("trades",)
    TRADES_FIELD_NUMBER: _ClassVar[int]
    trades: _containers.RepeatedCompositeFieldContainer[Trade]
    def __init__(self, trades: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ...) -> None: ...

class SubscribePriceRequest(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeOrdersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubscribeKlinesRequest(_message.Message):
    __slots__ = ("symbols", "interval")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    interval: str
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., interval: _Optional[str] = ...) -> None: ...
