"""The bridge: connector streams in, validated events out through the sink, for ever.

One session is one channel with three streams: orders (every symbol, filtered by the active
set), prices and klines (the active symbols; reopened when the set changes, new streams before
the old ones close). When any stream ends the session ends, and the next one starts after a
capped, jittered backoff. Every session begins with a reconcile for every active symbol, sent
once the order stream is open, so nothing that happened while disconnected goes unseen.

Every bounded wait is `async with asyncio.timeout(...)`, never `asyncio.wait_for`: before Python
3.12, wait_for returns the result and drops the cancel when its task is cancelled in the few loop
turns between the awaited thing finishing and wait_for waking up (python/cpython#86296). A market
stream's headers coming as the order stream failed was enough: the session's cancel of the market
task was lost and the session waited on it for ever, its order stream gone, prices still flowing,
never reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bridge.backoff import Backoff
from bridge.channel import call_metadata, open_channel
from bridge.convert import (
    BadMessage,
    candle_event_from_pb,
    order_event_from_pb,
    tick_from_pb,
)
from bridge.leader import Leadership
from bridge.rejects import RejectCounter
from bridge.sink import Sink, now_ms
from bridge.symbols import SymbolSource, SymbolSourceUnavailable
from mmtasks.messages import CandleEvent, OrderEvent
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.venue.types import PriceTick

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BridgeConfig:
    connector_addr: str
    connector_token: str | None = None
    tls_ca: Path | None = None
    kline_interval: str = "1m"
    resync_s: float = 10.0
    connect_timeout_s: float = 5.0
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 10.0
    stable_after_s: float = 5.0  # a session that held this long resets the backoff
    max_backlog: int = 50_000  # unwritten events before the readers pause (backpressure)
    stats_interval_s: float = 30.0


class StreamEnded(Exception):
    """A stream closed without an error status; the session is over."""


async def opened(call: Any, timeout_s: float) -> None:
    """Wait until the server has opened a subscription (its headers came); raise if it refused.

    The connector sends headers once the subscription is registered, so from then on nothing
    is missed: that is the moment a reconcile may be sent.
    """
    waiter = asyncio.ensure_future(call.initial_metadata())
    # A late failure surfaces through the reader; this only marks the error as seen.
    waiter.add_done_callback(lambda t: t.cancelled() or t.exception())
    # shield: giving up the wait must not cancel the call itself (TimeoutError ends the session)
    async with asyncio.timeout(timeout_s):  # not wait_for: see the module docstring
        await asyncio.shield(waiter)
    if call.done():  # ended before it opened: raise its status (refused), or let the reader see
        await call.wait_for_connection()


async def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until they are done."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Bridge:
    """Streams from one connector into the symbols' inboxes and price slots."""

    def __init__(
        self,
        config: BridgeConfig,
        sink: Sink,
        rejects: RejectCounter,
        source: SymbolSource,
        leadership: Leadership | None = None,
    ) -> None:
        self.config = config
        self.leadership = leadership  # None: stream without asking (one bridge, or tests)
        self.sink = sink
        self.rejects = rejects
        self.source = source
        self.active: frozenset[str] = frozenset()
        self.sessions = 0
        self.connected = False
        self._metadata = call_metadata(config.connector_token)
        self._batched_prices = True  # until a connector says it has no SubscribePriceBatches
        self._symbols_changed = asyncio.Event()
        self._resync = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask run() to finish: streams are cancelled, buffered messages written."""
        self._stop.set()

    async def run(self) -> int:
        """Stream until stop(); return 0, or 1 when a background task failed."""
        self.sink.start()
        await self._resync_symbols()
        tasks = [
            asyncio.create_task(self._connect_forever(), name="connect"),
            asyncio.create_task(self._watch_symbols(), name="symbols"),
            asyncio.create_task(self.source.listen(self._resync), name="registry-listen"),
            asyncio.create_task(self._log_stats(), name="stats"),
        ]
        if self.leadership is not None:
            self.sink.leading = False  # a standby writes no heartbeat over the leader's
            tasks.append(asyncio.create_task(self.leadership.run(), name="leader"))
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        code = 0
        for task in done:
            if task is not stop and not task.cancelled() and task.exception() is not None:
                log.error("bridge task %s failed", task.get_name(), exc_info=task.exception())
                code = 1
        await cancel_all([stop, *tasks])
        flushed = await asyncio.to_thread(self.sink.stop, FLUSH_TIMEOUT_S)
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.release)
        log.info(
            "bridge stopped (%s); received %s; rejected %s",
            "flushed" if flushed else "flush timed out",
            dict(self.sink.received),
            dict(self.rejects.totals),
        )
        return code if flushed else 1

    # -- symbols ----------------------------------------------------------------------------
    async def _watch_symbols(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.resync_s):  # not wait_for: module doc
                    await self._resync.wait()
            self._resync.clear()
            await self._resync_symbols()

    async def _resync_symbols(self) -> None:
        try:
            symbols = await self.source.load()
        except SymbolSourceUnavailable as exc:
            log.warning("keeping %d symbols: %s", len(self.active), exc)
            return
        if symbols == self.active:
            return
        added, removed = symbols - self.active, self.active - symbols
        log.info(
            "streaming %d symbols (added %s, removed %s)",
            len(symbols),
            sorted(added) or "-",
            sorted(removed) or "-",
        )
        self.active = symbols
        self._symbols_changed.set()
        if self.connected and added:
            # Its order updates were filtered out until now: let the worker catch up.
            self.sink.request_reconcile(sorted(added), "bridge subscribe")

    # -- sessions ---------------------------------------------------------------------------
    async def _connect_forever(self) -> None:
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s)
        while True:
            if self.leadership is not None and not self.leadership.leading.is_set():
                self.sink.leading = False
                await self.leadership.leading.wait()
                self.sink.leading = True
            started = time.monotonic()
            try:
                await self._session()
            except grpc.aio.AioRpcError as exc:
                log.warning("connector stream failed: %s %s", exc.code().name, exc.details())
            except (StreamEnded, TimeoutError) as exc:
                log.warning("connector session ended: %s", exc or "connect timed out")
            except Exception:
                log.exception("connector session failed")
            self.connected = False
            self.sink.set_state("reconnecting")
            if time.monotonic() - started >= self.config.stable_after_s:
                backoff.reset()
            delay_s = backoff.next_delay_s()
            log.info("reconnecting to %s in %.2fs", self.config.connector_addr, delay_s)
            await asyncio.sleep(delay_s)

    async def _session(self) -> None:
        channel = open_channel(self.config.connector_addr, self.config.tls_ca)
        self._batched_prices = True  # the connector may have been upgraded since
        tasks: list[asyncio.Task[None]] = []
        try:
            # Bounded waits: asyncio.timeout, never wait_for (see the module docstring).
            async with asyncio.timeout(self.config.connect_timeout_s):
                await channel.channel_ready()
            stub = pb_grpc.ExchangeServiceStub(channel)
            orders = stub.SubscribeOrders(pb.SubscribeOrdersRequest(), metadata=self._metadata)
            await opened(orders, self.config.connect_timeout_s)
            tasks.append(
                asyncio.create_task(
                    self._read_events(
                        orders,
                        "orders",
                        # The order stream carries every symbol: the active set is what we accept.
                        lambda m, now: order_event_from_pb(m, self.active, now),
                    ),
                    name="orders",
                )
            )
            tasks.append(asyncio.create_task(self._market_streams(stub), name="market"))
            if self.leadership is not None:
                tasks.append(asyncio.create_task(self._while_leading(), name="leading"))
            self.sessions += 1
            self.connected = True
            self.sink.set_state("connected")
            reason = "bridge start" if self.sessions == 1 else "bridge reconnect"
            self.sink.request_reconcile(sorted(self.active), reason)
            log.info(
                "connected to %s (session %d); reconcile sent for %d symbols",
                self.config.connector_addr,
                self.sessions,
                len(self.active),
            )
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the stream's error
            raise StreamEnded("a stream closed")
        finally:
            await cancel_all(tasks)
            await channel.close(grace=None)

    async def _while_leading(self) -> None:
        assert self.leadership is not None
        await self.leadership.lost.wait()
        raise StreamEnded("the leader lock went to another bridge")

    async def _market_streams(self, stub: pb_grpc.ExchangeServiceStub) -> None:
        current: list[asyncio.Task[None]] = []
        listed: dict[str, bool] = {}  # per session: does the connector know the symbol?
        try:
            while True:
                self._symbols_changed.clear()
                symbols = await self._listed(stub, self.active, listed)
                fresh = await self._open_market(stub, symbols)
                await cancel_all(current)  # after the new streams are open: no gap
                current = fresh
                changed = asyncio.create_task(self._symbols_changed.wait())
                done, _ = await asyncio.wait(
                    [*current, changed], return_when=asyncio.FIRST_COMPLETED
                )
                if changed in done:
                    listed = {s: ok for s, ok in listed.items() if ok}  # ask again for the rest
                    continue
                await cancel_all([changed])
                for task in done:
                    task.result()
        finally:
            await cancel_all(current)

    async def _listed(
        self, stub: pb_grpc.ExchangeServiceStub, symbols: frozenset[str], listed: dict[str, bool]
    ) -> frozenset[str]:
        """Return the symbols the connector knows: one unknown name would fail the stream."""
        unchecked = sorted(s for s in symbols if s not in listed)
        answers = await asyncio.gather(*(self._is_listed(stub, s) for s in unchecked))
        for symbol, ok in zip(unchecked, answers, strict=True):
            listed[symbol] = ok
            if not ok:
                log.error("connector does not list %s: not streaming it", symbol)
        return frozenset(s for s in symbols if listed[s])

    async def _is_listed(self, stub: pb_grpc.ExchangeServiceStub, symbol: str) -> bool:
        try:
            await stub.GetSymbolInfo(
                pb.GetSymbolInfoRequest(symbol=symbol),
                metadata=self._metadata,
                timeout=self.config.connect_timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return False
            if exc.code() is not grpc.StatusCode.UNIMPLEMENTED:  # no answer: just try it
                raise
        return True

    async def _open_market(
        self, stub: pb_grpc.ExchangeServiceStub, symbols: frozenset[str]
    ) -> list[asyncio.Task[None]]:
        if not symbols:  # an empty request would mean "every symbol"
            return []
        names = sorted(symbols)
        timeout_s = self.config.connect_timeout_s
        klines = stub.SubscribeKlines(
            pb.SubscribeKlinesRequest(symbols=names, interval=self.config.kline_interval),
            metadata=self._metadata,
        )
        try:
            prices = await self._open_prices(stub, names)
        except BaseException:
            klines.cancel()
            raise
        batched = self._batched_prices
        try:
            await opened(klines, timeout_s)
        except BaseException:
            prices.cancel()
            klines.cancel()
            raise
        read_prices = self._read_price_batches if batched else self._read_prices
        return [
            asyncio.create_task(read_prices(prices, symbols), name="prices"),
            asyncio.create_task(
                self._read_events(
                    klines, "klines", lambda m, now: candle_event_from_pb(m, symbols, now)
                ),
                name="klines",
            ),
        ]

    async def _open_prices(self, stub: pb_grpc.ExchangeServiceStub, names: list[str]) -> Any:
        """Open the batched price stream, or the unbatched one on a connector without it."""
        request = pb.SubscribePriceRequest(symbols=names)
        timeout_s = self.config.connect_timeout_s
        if self._batched_prices:
            call = stub.SubscribePriceBatches(request, metadata=self._metadata)
            try:
                await opened(call, timeout_s)
                return call
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
                log.warning("connector has no SubscribePriceBatches: using SubscribePrice")
                self._batched_prices = False
            except BaseException:
                call.cancel()
                raise
        call = stub.SubscribePrice(request, metadata=self._metadata)
        try:
            await opened(call, timeout_s)
        except BaseException:
            call.cancel()
            raise
        return call

    # -- readers ----------------------------------------------------------------------------
    async def _read_prices(self, call: Any, symbols: frozenset[str]) -> None:
        sink, rejects, received = self.sink, self.rejects, self.sink.received
        try:
            async for msg in call:
                now = now_ms()
                received["price"] += 1
                sink.saw("price", now)
                try:
                    tick = tick_from_pb(msg, symbols, now)
                except BadMessage as exc:
                    rejects.count("price", exc.reason, exc.detail)
                    continue
                sink.put_tick(tick)
        finally:
            call.cancel()
        raise StreamEnded("price stream closed by the connector")

    async def _read_price_batches(self, call: Any, symbols: frozenset[str]) -> None:
        # The hot path: most of the volume. Every tick is validated (and a bad one counted),
        # but only the newest valid tick per symbol of a batch is handed to the sink.
        sink, count_reject, received = self.sink, self.rejects.count, self.sink.received
        saw, put_ticks = sink.saw, sink.put_ticks
        try:
            async for msg in call:
                now = now_ms()
                ticks = msg.ticks
                received["price"] += len(ticks)
                saw("price", now)
                newest: dict[str, PriceTick] = {}
                for pb_tick in ticks:
                    try:
                        tick = tick_from_pb(pb_tick, symbols, now)
                    except BadMessage as exc:
                        count_reject("price", exc.reason, exc.detail)
                        continue
                    newest[tick.symbol] = tick
                if newest:
                    put_ticks(newest)
        finally:
            call.cancel()
        raise StreamEnded("price stream closed by the connector")

    async def _read_events(
        self, call: Any, stream: str, parse: Callable[[Any, int], OrderEvent | CandleEvent]
    ) -> None:
        """Validate each message of an order or kline stream and hand it to the sink, in order."""
        sink, rejects, received = self.sink, self.rejects, self.sink.received
        max_backlog = self.config.max_backlog
        try:
            async for msg in call:
                now = now_ms()
                received[stream] += 1
                sink.saw(stream, now)
                try:
                    event = parse(msg, now)
                except BadMessage as exc:
                    rejects.count(stream, exc.reason, exc.detail)
                    continue
                sink.put_event(event)
                if sink.backlog() >= max_backlog:
                    await self._backpressure()
        finally:
            call.cancel()
        raise StreamEnded(f"{stream} stream closed by the connector")

    async def _backpressure(self) -> None:
        """Stop reading while Redis is behind; gRPC flow control then slows the connector."""
        log.warning("%d events unwritten: pausing the streams", self.sink.backlog())
        while self.sink.backlog() >= self.config.max_backlog // 2:
            await asyncio.sleep(0.01)

    async def _log_stats(self) -> None:
        last: Counter[str] = Counter()
        last_t = time.monotonic()
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            now = time.monotonic()
            rates = {
                k: round((v - last[k]) / (now - last_t)) for k, v in self.sink.received.items()
            }
            log.info(
                "msgs/s %s; written %s; rejected %s; symbols %d",
                rates,
                dict(self.sink.stats),
                dict(self.rejects.totals),
                len(self.active),
            )
            last, last_t = Counter(self.sink.received), now
