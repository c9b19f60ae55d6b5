"""One symbol traded in process: the real worker step on real Redis and Postgres, a SimVenue.

No Celery worker and no gRPC: `Desk.step()` calls `run_step` as the symbol's task does, with a
`Runtime` whose venue is the in-process sim. Order updates the venue streams are held until
`deliver()` puts them in the inbox through the bridge's validation and writer, so a test
chooses when (and in which order, how often) the step learns of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis as redis_lib
from celery import Celery

from bridge.writer import Batch, BatchWriter
from mmtasks.messages import CommandEvent, dump_event
from mmtasks.registry.symbol_commands import init_command
from mmtasks.runtime import Runtime
from mmtasks.state.keys import EVENTS, SYMBOLS, keys_for
from mmtasks.state.store import SymbolStore
from mmtasks.trading.step import StepResult, run_step
from mmtasks.venue.types import OrderUpdate, PriceTick
from tests.kit.feed import order_events, write

D = Decimal
SETTLE_ROUNDS = 20
Mangle = Callable[[list[OrderUpdate]], list[OrderUpdate]]


@dataclass
class Desk:
    """A symbol, its runtime (real Redis and Postgres, venue in process) and its feed."""

    rt: Runtime
    venue: Any  # SimVenue
    symbol: str
    writer: BatchWriter
    updates: list[OrderUpdate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.venue.subscribe("order", self.updates.append, symbols=[self.symbol])
        self.store = SymbolStore(self.rt.redis, self.symbol)
        self.keys = keys_for(self.symbol)
        self.text = redis_lib.Redis.from_url(self.rt.settings.redis_url, decode_responses=True)

    # -- what enters the symbol --------------------------------------------------------------

    def init(self, strategy: dict[str, Any], risk: dict[str, Any] | None = None) -> None:
        """Add the symbol to the fleet and send its `init` command, as add_symbol does."""
        name, args = init_command(self.venue, self.symbol, strategy, risk or {})
        self.rt.redis.sadd(SYMBOLS, self.symbol)
        self.command(name, args)

    def command(self, name: str, args: dict[str, Any] | None = None) -> int:
        """Append a command to the inbox; return its seq."""
        event = CommandEvent(symbol=self.symbol, command=name, args=args or {}, issued_by="test")  # type: ignore[arg-type]
        return self.store.append(dump_event(event))

    def move(self, price: str) -> PriceTick:
        """Trade the venue at price (resting orders it reaches fill) and store the tick."""
        tick = self.venue.inject_price(self.symbol, price)
        write(self.writer, Batch(ticks={self.symbol: tick}))
        return tick

    def take_updates(self) -> list[OrderUpdate]:
        """Return the order updates the venue streamed since the last call."""
        taken, self.updates[:] = list(self.updates), []
        return taken

    def deliver(self, updates: list[OrderUpdate] | None = None, mangle: Mangle = list) -> int:
        """Put order updates (default: all streamed so far) in the inbox; return how many.

        mangle turns the updates into what reaches the inbox (duplicated, reordered...).
        """
        updates = mangle(self.take_updates() if updates is None else updates)
        if updates:
            write(self.writer, Batch(events=list(order_events(updates, {self.symbol}))))
        return len(updates)

    # -- the step ----------------------------------------------------------------------------

    def step(self, trigger: str = "drain") -> StepResult:
        """Run the symbol's worker step once, as its task would."""
        return run_step(self.rt, self.symbol, trigger, clear_price_pending=trigger == "price")

    def settle(self, mangle: Mangle = list) -> None:
        """Step until nothing changes: every update delivered, the last decision a no-op.

        Live, every order update (fill, ack, confirmed cancel) triggers a decision on the last
        price; GRID.md's case model decides again until a decision changes nothing.
        """
        for _ in range(SETTLE_ROUNDS):
            delivered = self.deliver(mangle=mangle)
            result = self.step()
            if not delivered and not result.actions and not self.updates:
                return
        raise AssertionError(f"{self.symbol} did not settle in {SETTLE_ROUNDS} steps")

    def trade(self, *prices: str, mangle: Mangle = list) -> None:
        """Walk prices: at each, the venue matches, the step learns the fills, then decides."""
        for price in prices:
            self.move(price)
            self.deliver(mangle=mangle)
            self.step("price")
            self.settle(mangle)

    # -- what the test reads -----------------------------------------------------------------

    def resting(self) -> list[tuple[str, Decimal]]:
        """Return the symbol's open orders at the venue as sorted (side, price)."""
        return sorted((o.side.value, o.price) for o in self.venue.open_orders(self.symbol))

    def state(self) -> dict[str, str]:
        return self.text.hgetall(self.keys.state)  # type: ignore[return-value]

    def position(self) -> dict[str, Decimal]:
        raw: dict[str, str] = self.text.hgetall(self.keys.position)  # type: ignore[assignment]
        return {k: D(v) for k, v in raw.items()}

    def slots(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = self.text.hgetall(self.keys.slots)  # type: ignore[assignment]
        return {k: json.loads(v) for k, v in raw.items()}

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Return (type, data) of the symbol's relayed events, oldest first."""
        rows: Any = self.text.xrange(EVENTS)
        return [
            (f["type"], json.loads(f.get("data") or "{}"))
            for _, f in rows
            if f.get("symbol") == self.symbol
        ]

    def close(self) -> None:
        self.text.close()


def desk_runtime(settings: Any, redis_url: str, venue: Any, pg: Any) -> Runtime:
    """Return a Runtime on redis_url whose venue is venue and whose ledger pool is pg."""
    return Runtime(settings, _redis=redis_lib.Redis.from_url(redis_url), _exchange=venue, _pg=pg)


def desk_for(rt: Runtime, app: Celery, symbol: str) -> Desk:
    """Return the desk of symbol on rt, fed through a bridge writer on rt's Redis."""
    return Desk(rt, rt.exchange, symbol, BatchWriter(rt.redis, app))
