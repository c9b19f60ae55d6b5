"""Test control of the simulated exchange in process: what SimControl serves over gRPC."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from mmtasks.errors import ValidationError
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.faults import FaultPlan
from mmtasks.sim.runner import FeedRunner
from mmtasks.venue.types import PriceTick

log = logging.getLogger(__name__)


class SimController:
    """Inject prices, schedule failures, drop streams, steer the feed.

    Fills and cancels from the exchange side are the engine's own (`engine.fill_order`,
    `engine.exchange_cancel`).
    """

    def __init__(
        self,
        engine: SimExchange,
        runner: FeedRunner | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.faults = faults or FaultPlan()
        self._stream_droppers: list[Callable[[], int]] = []

    def add_stream_dropper(self, dropper: Callable[[], int]) -> None:
        """Register a function that ends every open stream and returns how many it ended."""
        self._stream_droppers.append(dropper)

    def inject_price(self, symbol: str, price: Decimal, volume: Decimal | None = None) -> PriceTick:
        """Trade the market at a price now (fills every resting order it crosses)."""
        return self.engine.apply_price(symbol, price, volume)

    def fail_next_calls(
        self, count: int, code: str = "UNAVAILABLE", method: str = "", symbol: str = ""
    ) -> None:
        """Fail the next `count` API calls (of one method, or naming one symbol, when given)."""
        if symbol:
            if method:
                raise ValidationError("give a method or a symbol to fail, not both")
            self.faults.fail_symbol(symbol, count, code)
        else:
            self.faults.fail_next(count, code, method)
        log.info(
            "test control: fail the next %d %s calls with %s",
            count,
            symbol or method or "API",
            code,
        )

    def drop_streams(self) -> int:
        """End every open stream with UNAVAILABLE so clients reconnect; return how many."""
        dropped = sum(dropper() for dropper in self._stream_droppers)
        log.info("test control: dropped %d streams", dropped)
        return dropped

    def set_feed(self, paused: bool, interval_ms: int = 0) -> None:
        """Pause or resume the price feed; a non-zero interval_ms also retimes it."""
        if self.runner is None:
            raise ValidationError("this exchange runs without a feed thread, nothing to steer")
        if interval_ms < 0:
            raise ValidationError(f"interval_ms must be >= 0, received {interval_ms}")
        if interval_ms:
            self.runner.set_interval(interval_ms)
        self.runner.set_paused(paused)
        log.info(
            "test control: feed %s, every %d ms",
            "paused" if paused else "running",
            self.runner.interval_ms,
        )

    def set_latency(self, latency_ms: int, symbol: str = "") -> None:
        """Add latency to every API call (naming symbol, when given) from now on."""
        if symbol:
            self.faults.set_symbol_latency(symbol, latency_ms)
        else:
            self.faults.set_latency(latency_ms)
        log.info("test control: %d ms latency added to %s calls", latency_ms, symbol or "every")
