"""ExchangeService over the simulated exchange (grpc.aio): validate, gate, call the engine, map."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from mmtasks.connector import requests as rq
from mmtasks.connector.convert import (
    account_to_pb,
    kline_to_pb,
    order_to_pb,
    position_to_pb,
    rules_to_pb,
    tick_to_pb,
    trade_to_pb,
)
from mmtasks.connector.errors import status_for
from mmtasks.connector.hub import PRICE_QUEUE, StreamHub, Subscriber
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.faults import FaultPlan
from mmtasks.sim.klines import interval_ms

log = logging.getLogger(__name__)

T = TypeVar("T")


async def answer(context: grpc.aio.ServicerContext, method: str, fn: Callable[[], T]) -> T:
    """Run fn and return its result, or abort the call with the status its error maps to."""
    try:
        return fn()
    except Exception as exc:
        code, message = status_for(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.exception("%s failed", method)
        await context.abort(code, message)
        raise  # unreachable: abort raises; keeps type checkers sure fn's result is returned


def error_pb(exc: Exception) -> pb.Error:
    """Return the per-item Error of a batch for an exception."""
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("batch item failed", exc_info=exc)
    return pb.Error(code=code.name, message=message)


class ExchangeServicer(pb_grpc.ExchangeServiceServicer):
    """Every ExchangeService RPC over one SimExchange."""

    def __init__(self, engine: SimExchange, faults: FaultPlan, hub: StreamHub) -> None:
        self.engine = engine
        self.faults = faults
        self.hub = hub

    async def _gate(
        self, context: grpc.aio.ServicerContext, method: str, *, stream: bool = False
    ) -> None:
        # Scheduled failures hit streams too (reconnect tests); the rate limit counts unary calls.
        if self.faults.active:
            await answer(
                context, method, lambda: self.faults.check(method, rate_limited=not stream)
            )

    async def _delayed(self, response: T) -> T:
        # Latency delays the answer, not the effect: a deadline shorter than the latency leaves
        # an order placed whose ack was lost, the ambiguous outcome clients must resolve.
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        return response

    async def PlaceOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Place one order; a known client order id answers the existing order."""
        await self._gate(context, "PlaceOrder")
        order, duplicate = await answer(
            context, "PlaceOrder", lambda: self.engine.place_order(rq.place_order_command(request))
        )
        return await self._delayed(
            pb.PlaceOrderResponse(order=order_to_pb(order), duplicate=duplicate)
        )

    async def BatchPlaceOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Place many orders; each item succeeds or carries its own error."""
        await self._gate(context, "BatchPlaceOrders")
        await answer(context, "BatchPlaceOrders", lambda: rq.batch_size(len(request.orders)))
        results = []
        for item in request.orders:
            try:
                order, duplicate = self.engine.place_order(rq.place_order_command(item))
                results.append(pb.PlaceOrderResult(order=order_to_pb(order), duplicate=duplicate))
            except Exception as exc:
                results.append(pb.PlaceOrderResult(error=error_pb(exc)))
        return await self._delayed(pb.BatchPlaceOrdersResponse(results=results))

    def _cancel(self, request: Any) -> Any:
        symbol = rq.require_symbol(request.symbol)
        rq.require_order_ref(request.order_id, request.client_order_id)
        return self.engine.cancel_order(symbol, request.order_id, request.client_order_id)

    async def CancelOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel one open order."""
        await self._gate(context, "CancelOrder")
        order = await answer(context, "CancelOrder", lambda: self._cancel(request))
        return await self._delayed(pb.CancelOrderResponse(order=order_to_pb(order)))

    async def BatchCancelOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel many orders; each item succeeds or carries its own error."""
        await self._gate(context, "BatchCancelOrders")
        await answer(context, "BatchCancelOrders", lambda: rq.batch_size(len(request.orders)))
        results = []
        for item in request.orders:
            try:
                results.append(pb.CancelOrderResult(order=order_to_pb(self._cancel(item))))
            except Exception as exc:
                results.append(pb.CancelOrderResult(error=error_pb(exc)))
        return await self._delayed(pb.BatchCancelOrdersResponse(results=results))

    async def CancelAllOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel the open orders of a symbol, optionally only those with a client id prefix."""
        await self._gate(context, "CancelAllOrders")
        orders = await answer(
            context,
            "CancelAllOrders",
            lambda: self.engine.cancel_all(
                rq.require_symbol(request.symbol), request.client_order_id_prefix
            ),
        )
        return await self._delayed(
            pb.CancelAllOrdersResponse(orders=[order_to_pb(o) for o in orders])
        )

    def _get_order(self, request: Any) -> Any:
        symbol = rq.require_symbol(request.symbol)
        rq.require_order_ref(request.order_id, request.client_order_id)
        return self.engine.get_order(symbol, request.order_id, request.client_order_id)

    async def GetOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return an order in any status."""
        await self._gate(context, "GetOrder")
        order = await answer(context, "GetOrder", lambda: self._get_order(request))
        return await self._delayed(pb.GetOrderResponse(order=order_to_pb(order)))

    async def GetOpenOrders(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the open orders of a symbol or of every symbol."""
        await self._gate(context, "GetOpenOrders")
        orders = await answer(
            context,
            "GetOpenOrders",
            lambda: self.engine.open_orders(rq.optional_symbol(request.symbol)),
        )
        return await self._delayed(
            pb.GetOpenOrdersResponse(orders=[order_to_pb(o) for o in orders])
        )

    async def GetPositions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the positions of a symbol or of every symbol."""
        await self._gate(context, "GetPositions")
        positions = await answer(
            context,
            "GetPositions",
            lambda: self.engine.positions(rq.optional_symbol(request.symbol)),
        )
        return await self._delayed(
            pb.GetPositionsResponse(positions=[position_to_pb(p) for p in positions])
        )

    async def GetAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return balances and PnL totals."""
        await self._gate(context, "GetAccount")
        return await self._delayed(
            account_to_pb(await answer(context, "GetAccount", self.engine.account))
        )

    async def GetSymbolInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the trading rules of a symbol."""
        await self._gate(context, "GetSymbolInfo")
        rules = await answer(
            context,
            "GetSymbolInfo",
            lambda: self.engine.rules(rq.require_symbol(request.symbol)),
        )
        return await self._delayed(pb.GetSymbolInfoResponse(info=rules_to_pb(rules)))

    async def GetLatestPrice(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the last price tick of a symbol."""
        await self._gate(context, "GetLatestPrice")
        tick = await answer(
            context,
            "GetLatestPrice",
            lambda: self.engine.latest_price(rq.require_symbol(request.symbol)),
        )
        return await self._delayed(pb.GetLatestPriceResponse(tick=tick_to_pb(tick)))

    def _klines(self, request: Any) -> Any:
        symbol = rq.require_symbol(request.symbol)
        limit = rq.kline_limit(request.limit)
        if request.end_ms < 0:
            raise ValidationError(f"end_ms must be >= 0 (0: now), received {request.end_ms}")
        return self.engine.klines(symbol, request.interval or "1m", limit, request.end_ms or None)

    async def GetHistoricalKlines(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return the newest closed candles, oldest first."""
        await self._gate(context, "GetHistoricalKlines")
        klines = await answer(context, "GetHistoricalKlines", lambda: self._klines(request))
        return await self._delayed(
            pb.GetHistoricalKlinesResponse(klines=[kline_to_pb(k) for k in klines])
        )

    def _trades(self, request: Any) -> Any:
        symbol = rq.optional_symbol(request.symbol)
        if request.since_ms < 0:
            raise ValidationError(f"since_ms must be >= 0, received {request.since_ms}")
        return self.engine.trades(symbol, request.since_ms, rq.trades_limit(request.limit))

    async def GetTrades(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Return trades at or after since_ms, oldest first."""
        await self._gate(context, "GetTrades")
        trades = await answer(context, "GetTrades", lambda: self._trades(request))
        return await self._delayed(pb.GetTradesResponse(trades=[trade_to_pb(t) for t in trades]))

    # -- streams -----------------------------------------------------------------------------
    # The drain loop is written out in each Subscribe*: grpc.aio needs an async generator
    # function there, and delegating to a second generator would cost a hop per message.

    def _symbols(self, symbols: Any) -> list[str]:
        return [self.engine.rules(rq.require_symbol(s, "symbols")).symbol for s in symbols]

    def _price_subscriber(self, request: Any) -> Callable[[], Subscriber]:
        def make() -> Subscriber:
            symbols = self._symbols(request.symbols)
            return Subscriber(asyncio.get_running_loop(), symbols=symbols, drop_oldest=PRICE_QUEUE)

        return make

    async def SubscribePrice(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream price ticks (the last known ones first), oldest dropped for a slow reader."""
        sub = await self._open(context, "SubscribePrice", "price", self._price_subscriber(request))
        try:
            while batch := await sub.take():
                for message in batch:
                    yield message
        finally:
            self.hub.unsubscribe("price", sub)
        await self._end(context, sub)

    async def SubscribePriceBatches(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream the ticks of SubscribePrice, as many per message as are ready, in seq order."""
        sub = await self._open(
            context, "SubscribePriceBatches", "price", self._price_subscriber(request)
        )
        try:
            # The hub's queue is in engine order, so every symbol's ticks stay in seq order.
            while batch := await sub.take():
                yield pb.PriceTicks(ticks=batch)
        finally:
            self.hub.unsubscribe("price", sub)
        await self._end(context, sub)

    async def SubscribeOrders(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream every order update, none ever dropped."""

        def subscriber() -> Subscriber:
            return Subscriber(asyncio.get_running_loop())

        sub = await self._open(context, "SubscribeOrders", "order", subscriber)
        try:
            while batch := await sub.take():
                for message in batch:
                    yield message
        finally:
            self.hub.unsubscribe("order", sub)
        await self._end(context, sub)

    async def SubscribeKlines(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Stream candles of one interval: forming updates and each closed candle."""
        interval = request.interval or "1m"

        def subscriber() -> Subscriber:
            known = self.engine.config.kline_intervals
            if interval not in known:
                interval_ms(interval)  # names the valid spellings when it is no interval at all
                raise ValidationError(
                    f"interval must be one of {', '.join(known)}, received {interval!r}"
                )
            symbols = self._symbols(request.symbols)
            return Subscriber(asyncio.get_running_loop(), symbols=symbols, interval=interval)

        sub = await self._open(context, "SubscribeKlines", "kline", subscriber)
        try:
            while batch := await sub.take():
                for message in batch:
                    yield message
        finally:
            self.hub.unsubscribe("kline", sub)
        await self._end(context, sub)

    async def _open(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        kind: str,
        make: Callable[[], Subscriber],
    ) -> Subscriber:
        await self._gate(context, method, stream=True)
        sub = await answer(context, method, make)
        self.hub.subscribe(kind, sub)
        # Headers now, not with the first message: they tell the client the stream is open
        # (subscribed, so nothing from here on is missed) even when nothing happens for a while.
        await context.send_initial_metadata(())
        return sub

    async def _end(self, context: grpc.aio.ServicerContext, sub: Subscriber) -> None:
        # An empty batch means the hub ended the stream (drop, shutdown, too slow): say why.
        if sub.end is not None:
            await context.abort(*sub.end)
