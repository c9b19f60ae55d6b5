"""The ccxt venue's streams: one watch loop per stream, listeners, and the downstream drop on a
lost or regained socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from mmtasks.domain import parse_symbol
from mmtasks.venue.port import Listener
from mmtasks.venue.types import (
    OrderUpdate,
    PriceTick,
    Stream,
)
from mmtasks.venues.ccxt.core import RECONNECT_S
from mmtasks.venues.ccxt.market import CcxtMarketData

log = logging.getLogger(__name__)


class CcxtStreams(CcxtMarketData):
    """The venue's websocket streams (orders, trades as prices, candles)."""

    # -- streams -------------------------------------------------------------------------------

    def add_stream_dropper(self, dropper: Callable[[], object]) -> None:
        """Call dropper (end every downstream stream) whenever a venue socket is lost."""
        self._droppers.append(dropper)

    def listen(
        self, stream: Stream, listener: Listener, symbols: Collection[str], interval: str
    ) -> None:
        """Call listener with every event of a stream (see `Venue.subscribe`).

        A price listener first gets each symbol's last price from the venue's ticker, unless a
        trade of that symbol reached it first: it is called from the moment it is registered,
        before the ticker is asked, so a trade made while the ticker answered is not missed
        (the stream may already be open for another listener), and the ticker's older price
        never comes after it. Every call comes from the venue's loop thread, the ticker's price
        too, one at a time."""
        wanted = frozenset(str(parse_symbol(s)) for s in symbols)
        for symbol in wanted:
            self.unified(symbol)
        call: Listener = _OpeningPrice(listener) if stream == "price" else listener
        with self._lock:
            self._listeners[(stream, listener)] = (wanted, interval, call)
        self._loop.call_soon_threadsafe(self._ensure_watch, stream, interval)
        if isinstance(call, _OpeningPrice):
            try:
                ticks = [self.latest_price(s) for s in sorted(wanted or set(self.served()))]
                self._run(_open(call, ticks))  # on the loop, between two stream messages
            except BaseException:  # the subscribe fails: no listener is left behind
                self.unsubscribe(stream, listener)
                raise

    def unsubscribe(self, stream: Stream, listener: Listener) -> None:
        """Stop calling a listener given to subscribe."""
        with self._lock:
            self._listeners.pop((stream, listener), None)

    def _targets(self, stream: Stream, symbol: str, interval: str = "") -> list[Listener]:
        with self._lock:
            return [
                call
                for (kind, _), (wanted, want_interval, call) in self._listeners.items()
                if kind == stream
                and (not wanted or symbol in wanted)
                and (stream != "kline" or want_interval == interval)
            ]

    def _ensure_watch(self, stream: Stream, interval: str) -> None:
        key = f"{stream}:{interval}" if stream == "kline" else stream
        if key in self._tasks and not self._tasks[key].done():
            return
        self._tasks[key] = self._loop.create_task(self._watch(stream, interval))

    async def _watch(self, stream: Stream, interval: str) -> None:
        """Keep one ccxt watch loop open; on a lost socket, end the downstream streams."""
        unified = [self.unified(s) for s in self.served()]
        failures = 0
        while True:
            try:
                if stream == "order":
                    await self.exchange.watch_orders()
                elif stream == "price":
                    await self.exchange.watch_trades_for_symbols(unified)
                else:
                    await self.exchange.watch_ohlcv_for_symbols([[u, interval] for u in unified])
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RECONNECT_S[min(failures, len(RECONNECT_S) - 1)]
                failures += 1
                log.warning(
                    "%s stream of %s lost (%s): downstream streams end; reconnecting in %.1fs",
                    stream,
                    self.config.exchange_id,
                    exc,
                    delay,
                )
                self._drop_downstream()
                await asyncio.sleep(delay)

    def _on_socket_connected(self, url: str) -> None:
        # The user socket is (back) up: end the downstream streams once more, so the bridge's
        # reconcile runs after it, not before. A fill made while it was down (or before it
        # first connected) is then in the venue's trade list when the bridge asks, and every
        # later one comes on the socket: between the two, nothing is missed. A market socket
        # (prices, candles) needs no reconcile: the next price or candle replaces what it lost.
        if not self.dialect.user_socket(url, self.exchange.options):
            return
        log.info(
            "%s user socket connected (%s; the path, which may hold a listen key, is not "
            "logged): downstream streams restart",
            self.config.exchange_id,
            urlsplit(url).netloc,
        )
        self._drop_downstream()

    def _drop_downstream(self) -> None:
        for dropper in list(self._droppers):
            with contextlib.suppress(Exception):
                dropper()

    def _on_order_message(self, message: dict[str, Any]) -> None:
        parsed = self.dialect.order_event(message)
        if parsed is None:
            return
        order, trade, ts = parsed
        self._client_ids[order.order_id] = order.client_order_id
        update = OrderUpdate(order, trade, ts, next(self._seq))
        for listener in self._targets("order", order.symbol):
            listener(update)

    def _on_trade_message(self, message: dict[str, Any]) -> None:
        tick = self.dialect.trade_tick(message)
        if tick is not None:
            for listener in self._targets("price", tick.symbol):
                listener(tick)

    def _on_kline_message(self, message: dict[str, Any]) -> None:
        kline = self.dialect.kline(message)
        if kline is not None:
            for listener in self._targets("kline", kline.symbol, kline.interval):
                listener(kline)


class _OpeningPrice:
    """A price listener that takes a symbol's opening price (the venue's ticker, asked when it
    subscribes) only while no trade of that symbol has reached it: the ticker's answer may be
    older than a trade the stream delivered meanwhile, and the newest price must stay last.
    Called on the venue's loop thread only (`_open` brings the opening prices there)."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._traded: set[str] = set()

    def __call__(self, event: Any) -> None:
        self._traded.add(str(event.symbol))
        self._listener(event)

    def opening(self, tick: PriceTick) -> None:
        if str(tick.symbol) not in self._traded:
            self._listener(tick)


async def _open(call: _OpeningPrice, ticks: list[PriceTick]) -> None:
    for tick in ticks:
        call.opening(tick)
