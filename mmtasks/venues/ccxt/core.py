"""What every part of the ccxt venue stands on: its event loop on a thread, the names of its
symbols, and every call paced by the fleet's rate budget and classified when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import redis

from mmtasks.alerts import alert
from mmtasks.budget import Priority, RateBudget
from mmtasks.domain import parse_symbol
from mmtasks.errors import (
    OrderNotFoundError,
    RateLimitedError,
    TemporaryError,
    UnknownSymbolError,
)
from mmtasks.venue.port import Listener
from mmtasks.venue.types import (
    Order,
    Stream,
)
from mmtasks.venues.ccxt.binance import Dialect, request_weight
from mmtasks.venues.ccxt.config import CcxtConfig
from mmtasks.venues.ccxt.errors import classify

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 30.0
RECONNECT_S = (0.2, 0.5, 1.0, 2.0, 5.0)
ZERO = Decimal(0)
STATS_EVERY_S = 1.0
# What the call being made is for: the budget serves cancels before entries before reads.
PRIORITY: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "venue_priority", default=Priority.READ
)


CLIENT_IDS_KEPT = 50_000  # order ids remembered with their client id (a few MiB)


class RecentIds(OrderedDict[str, str]):
    """Venue order id -> client id of the newest `kept` orders: a trade carries no client id,
    and one of an order forgotten here is looked up at the venue (its order) instead, so a
    connector that runs for months does not grow by one entry an order. (An OrderedDict:
    dropping the oldest entry of a plain dict leaves its front to be walked past.)"""

    def __init__(self, kept: int = CLIENT_IDS_KEPT) -> None:
        super().__init__()
        self.kept = kept

    def __setitem__(self, order_id: str, client_id: str) -> None:
        super().__setitem__(order_id, client_id)
        self.move_to_end(order_id)  # a refreshed id counts as new
        if len(self) > self.kept:
            self.popitem(last=False)


class CcxtCore:
    """The loop, the symbol names, the budget and the calls; the venue's parts extend it."""

    config: CcxtConfig
    dialect: Dialect
    exchange: Any
    budget: RateBudget | None
    retry_after_s: float
    _loop: asyncio.AbstractEventLoop
    _tasks: dict[str, asyncio.Task[None]]
    _pending: set[asyncio.Task[Any]]
    _ours: dict[str, str]
    _client_ids: RecentIds
    _fees: dict[str, tuple[Decimal, Decimal]]
    _listeners: dict[tuple[Stream, Listener], tuple[frozenset[str], str, Listener]]
    _lock: threading.Lock
    _seq: itertools.count[int]
    _droppers: list[Callable[[], object]]
    _thread: threading.Thread

    # -- the loop ----------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise TemporaryError(f"the venue did not answer within {timeout_s:g}s") from None

    def close(self) -> None:
        """Stop the streams and the loop; release the exchange's sessions."""

        async def shutdown() -> None:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            await self.exchange.close()
            if self.budget is not None:
                await self.budget.close()

        with contextlib.suppress(Exception):
            self._run(shutdown(), timeout_s=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- symbols: our names and ccxt's, in one place ------------------------------------------

    def _symbol_map(self) -> dict[str, str]:
        ours: dict[str, str] = {}
        for market in self.exchange.markets.values():
            wanted = (
                market.get("spot")
                if self.dialect.spot
                else market.get("linear") and market.get("swap")
            )
            if wanted and market.get("active", True) is not False:
                ours[str(market["id"])] = str(market["symbol"])
        return ours

    def unified(self, symbol: str) -> str:
        """ccxt's name of our symbol (`BTCUSDT` -> `BTC/USDT:USDT` on perpetuals)."""
        name = parse_symbol(symbol)
        found = self._ours.get(name)
        if found is None:
            raise UnknownSymbolError(
                f"{self.config.exchange_id} lists no {'spot' if self.dialect.spot else 'perpetual'}"
                f" market {name}"
            )
        return found

    def served(self) -> list[str]:
        return [str(parse_symbol(s)) for s in self.config.symbols] or sorted(self._ours)

    # -- errors --------------------------------------------------------------------------------

    def _on_response(self, code: int, headers: dict[str, str]) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        if code in (418, 429):
            with contextlib.suppress(ValueError):
                self.retry_after_s = float(lower.get("retry-after", "0"))
        if self.budget is None:
            return
        loop = asyncio.get_running_loop()
        if code in (418, 429):
            reason = (
                f"HTTP {code} from {self.config.exchange_id}, Retry-After {self.retry_after_s:g}s"
            )
            wait = self.retry_after_s or 60.0
            self._background(loop.create_task(self._pause(wait, reason)))

        def figure(name: str) -> int | None:
            value = lower.get(name)
            return int(value) if value is not None and value.isdigit() else None

        used = figure("x-mbx-used-weight-1m")
        ten, minute = figure("x-mbx-order-count-10s"), figure("x-mbx-order-count-1m")
        if self.budget.may_correct(used, ten, minute):
            self._background(loop.create_task(self.budget.correct(used, ten, minute)))

    def _background(self, task: asyncio.Task[Any]) -> None:
        """Keep a fire-and-forget task referenced until it ends."""
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _throttle(self, cost: Any) -> None:
        assert self.budget is not None
        weight, orders = request_weight(cost.api, cost.method, cost.path, cost.params)
        try:
            await self.budget.draw(weight, orders, PRIORITY.get())
        except RateLimitedError:
            raise
        except Exception as exc:  # no budget, no call: the fleet's limit cannot be kept
            raise TemporaryError(f"the rate budget in Redis cannot be read ({exc})") from exc

    async def _pause(self, seconds: float, reason: str) -> None:
        assert self.budget is not None
        with contextlib.suppress(Exception):
            await self.budget.pause(seconds, reason)
        loop = asyncio.get_running_loop()
        loop.run_in_executor(
            None,
            _alert_pause,
            self.config.budget_redis_url,
            self.config.exchange_id,
            seconds,
            reason,
        )

    async def _flush_stats(self) -> None:
        assert self.budget is not None
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            with contextlib.suppress(Exception):
                await self.budget.flush()

    async def _fetch(
        self, unified: str, *, order_id: str = "", client_order_id: str = ""
    ) -> Order | None:
        params = {"clientOrderId": client_order_id} if client_order_id else {}
        try:
            raw = await self._call(self.exchange.fetch_order(order_id or None, unified, params))
        except OrderNotFoundError:
            return None
        order = self.dialect.order(raw["info"])
        self._client_ids[order.order_id] = order.client_order_id
        return order

    def _now(self) -> int:
        return int(time.time() * 1000)

    async def _call(self, coro: Coroutine[Any, Any, T], *, changes: bool = False) -> T:
        try:
            return await coro
        except Exception as exc:
            raise classify(exc, changes=changes, retry_after_s=self.retry_after_s) from exc


def _alert_pause(redis_url: str, venue: str, seconds: float, reason: str) -> None:
    """Tell the operators the venue paused everyone (from a thread: alert() is blocking)."""
    with contextlib.suppress(Exception), redis.Redis.from_url(redis_url) as client:
        alert(
            client,
            f"venue-paused:{venue}",
            f"{venue}: every request paused for {seconds:g}s",
            f"{reason}. No process of the fleet calls the venue until the pause ends; "
            "symbols wait DEGRADED and trade again by themselves.",
            severity="failure",
            urgent=True,
        )
