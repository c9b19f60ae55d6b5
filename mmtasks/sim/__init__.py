"""The simulated exchange: pure Python, in process, thread-safe, Decimal throughout."""

from __future__ import annotations

from mmtasks.sim.control import SimController
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.faults import FaultPlan, TokenBucket
from mmtasks.sim.feeds import (
    CsvFeed,
    FeedTick,
    NoFeed,
    PriceFeed,
    RandomWalkFeed,
    ScriptedFeed,
    make_feed,
)
from mmtasks.sim.models import (
    Account,
    Balance,
    Kline,
    Order,
    OrderType,
    OrderUpdate,
    PlaceOrder,
    Position,
    PriceTick,
    SimConfig,
    SymbolRules,
    TimeInForce,
    Trade,
)
from mmtasks.sim.rules import rules_for
from mmtasks.sim.runner import FeedRunner

__all__ = [
    "Account",
    "Balance",
    "CsvFeed",
    "FaultPlan",
    "FeedRunner",
    "FeedTick",
    "Kline",
    "NoFeed",
    "Order",
    "OrderType",
    "OrderUpdate",
    "PlaceOrder",
    "Position",
    "PriceFeed",
    "PriceTick",
    "RandomWalkFeed",
    "ScriptedFeed",
    "SimConfig",
    "SimController",
    "SimExchange",
    "SymbolRules",
    "TimeInForce",
    "TokenBucket",
    "Trade",
    "make_feed",
    "rules_for",
]
