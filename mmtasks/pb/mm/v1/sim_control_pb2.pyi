from mmtasks.pb.mm.v1 import exchange_pb2 as _exchange_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InjectPriceRequest(_message.Message):
    __slots__ = ("symbol", "price", "volume")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    price: str
    volume: str
    def __init__(self, symbol: _Optional[str] = ..., price: _Optional[str] = ..., volume: _Optional[str] = ...) -> None: ...

class InjectPriceResponse(_message.Message):
    __slots__ = ("tick",)
    TICK_FIELD_NUMBER: _ClassVar[int]
    tick: _exchange_pb2.PriceTick
    def __init__(self, tick: _Optional[_Union[_exchange_pb2.PriceTick, _Mapping]] = ...) -> None: ...

class FillOrderRequest(_message.Message):
    __slots__ = ("symbol", "order_id", "client_order_id", "quantity")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    order_id: str
    client_order_id: str
    quantity: str
    def __init__(self, symbol: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., quantity: _Optional[str] = ...) -> None: ...

class FillOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _exchange_pb2.Order
    def __init__(self, order: _Optional[_Union[_exchange_pb2.Order, _Mapping]] = ...) -> None: ...

class ExchangeCancelRequest(_message.Message):
    __slots__ = ("symbol", "order_id", "client_order_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    order_id: str
    client_order_id: str
    def __init__(self, symbol: _Optional[str] = ..., order_id: _Optional[str] = ..., client_order_id: _Optional[str] = ...) -> None: ...

class ExchangeCancelResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _exchange_pb2.Order
    def __init__(self, order: _Optional[_Union[_exchange_pb2.Order, _Mapping]] = ...) -> None: ...

class FailNextCallsRequest(_message.Message):
    __slots__ = ("count", "code", "method", "symbol")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    count: int
    code: str
    method: str
    symbol: str
    def __init__(self, count: _Optional[int] = ..., code: _Optional[str] = ..., method: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class FailNextCallsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DropStreamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DropStreamsResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    def __init__(self, dropped: _Optional[int] = ...) -> None: ...

class SetFeedRequest(_message.Message):
    __slots__ = ("paused", "interval_ms")
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    interval_ms: int
    def __init__(self, paused: _Optional[bool] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class SetFeedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetLatencyRequest(_message.Message):
    __slots__ = ("latency_ms", "symbol")
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    latency_ms: int
    symbol: str
    def __init__(self, latency_ms: _Optional[int] = ..., symbol: _Optional[str] = ...) -> None: ...

class SetLatencyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
