"""The simulated exchange: pure Python, in process, thread-safe, Decimal throughout.

`SimVenue` is its `mmtasks.venue.Venue`; `SimExchange` the matching engine behind it. Its
messages are the venue types (`mmtasks.venue.types`). Only the connector's entry point, tests and
benchmarks import this package: production code talks to a Venue.
"""

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
from mmtasks.sim.models import SimConfig, SimSymbolRules
from mmtasks.sim.rules import rules_for
from mmtasks.sim.runner import FeedRunner
from mmtasks.sim.venue import SimVenue

__all__ = [
    "CsvFeed",
    "FaultPlan",
    "FeedRunner",
    "FeedTick",
    "NoFeed",
    "PriceFeed",
    "RandomWalkFeed",
    "ScriptedFeed",
    "SimConfig",
    "SimController",
    "SimExchange",
    "SimSymbolRules",
    "SimVenue",
    "TokenBucket",
    "make_feed",
    "rules_for",
]
