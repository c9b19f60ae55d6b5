"""The venue port: one `Venue` protocol, one set of venue types, one wire codec, one grid adapter.

Implementations: the simulator's `SimVenue` (in process) and the connector's `ExchangeClient`
(over gRPC). See docs/venue.md for how to add a real venue.
"""

from __future__ import annotations

from mmtasks.venue.port import Listener, Number, Venue
from mmtasks.venue.types import (
    STREAMS,
    Account,
    Balance,
    CancelRequest,
    CancelResult,
    Kline,
    Order,
    OrderRequest,
    OrderType,
    OrderUpdate,
    PlaceResult,
    Position,
    PriceTick,
    Stream,
    SymbolRules,
    TimeInForce,
    Trade,
)

__all__ = [
    "STREAMS",
    "Account",
    "Balance",
    "CancelRequest",
    "CancelResult",
    "Kline",
    "Listener",
    "Number",
    "Order",
    "OrderRequest",
    "OrderType",
    "OrderUpdate",
    "PlaceResult",
    "Position",
    "PriceTick",
    "Stream",
    "SymbolRules",
    "TimeInForce",
    "Trade",
    "Venue",
]
