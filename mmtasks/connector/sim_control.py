"""The simulated exchange's gRPC extras: the SimControl service and the fault interceptor.

The connector's entry point adds both when it serves the sim; the server itself knows neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from mmtasks.connector import requests as rq
from mmtasks.connector.auth import HandlerInterceptor, refusing
from mmtasks.connector.errors import status_for
from mmtasks.connector.server import ExtraService
from mmtasks.connector.service import answer, rpc
from mmtasks.decimals import parse_decimal
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import sim_control_pb2 as pbc
from mmtasks.pb.mm.v1 import sim_control_pb2_grpc as pbc_grpc
from mmtasks.sim.control import SimController
from mmtasks.sim.faults import FaultPlan
from mmtasks.venue.codec import order_to_pb, tick_to_pb

EXCHANGE_SERVICE = pb.DESCRIPTOR.services_by_name["ExchangeService"]
EXCHANGE_METHODS = frozenset(EXCHANGE_SERVICE.methods_by_name)
EXCHANGE_PREFIX = f"/{EXCHANGE_SERVICE.full_name}/"
SERVICE_NAME = pbc.DESCRIPTOR.services_by_name["SimControl"].full_name

T = TypeVar("T")


class FaultInterceptor(HandlerInterceptor):
    """Apply a FaultPlan to ExchangeService calls: scheduled failures, rate limit, latency.

    Scheduled failures hit streams too (reconnect tests); the rate limit counts unary calls.
    Latency delays the answer, not the effect: a deadline shorter than the latency leaves an
    order placed whose ack was lost, the ambiguous outcome clients must resolve. With nothing
    planned, a call's handler is returned untouched (no cost per message).
    """

    def __init__(self, faults: FaultPlan) -> None:
        self.faults = faults

    def intercept(
        self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        path: str = details.method
        if not path.startswith(EXCHANGE_PREFIX):
            return handler
        method = path[len(EXCHANGE_PREFIX) :]
        unary = handler.unary_unary is not None
        if self.faults.active:
            try:
                self.faults.check(method, rate_limited=unary)
            except Exception as exc:
                return refusing(handler, *status_for(exc))
        if unary and self.faults.latency_ms:
            handler = _delayed(handler, self.faults.latency_ms)
        if unary and self.faults.per_symbol:
            return _per_symbol(handler, method, self.faults)
        return handler


def _symbols_of(request: Any) -> set[str]:
    """Return the symbols a request names (its own, and those of its repeated items)."""
    out: set[str] = set()
    for fd, value in request.ListFields():
        if fd.name == "symbol":
            out.add(value)
        elif fd.message_type is not None and fd.label == fd.LABEL_REPEATED:
            out.update(s for s in (getattr(item, "symbol", "") for item in value) if s)
    return out


def _per_symbol(
    handler: grpc.RpcMethodHandler, method: str, faults: FaultPlan
) -> grpc.RpcMethodHandler:
    """Wrap a unary handler with the faults set for the symbols its request names."""

    async def before(request: Any, context: grpc.aio.ServicerContext) -> int:
        try:
            return faults.check_symbols(method, _symbols_of(request))
        except Exception as exc:
            await context.abort(*status_for(exc))
            raise  # abort raises; this line is never reached

    return _wrapped(handler, before)


def _delayed(handler: grpc.RpcMethodHandler, latency_ms: int) -> grpc.RpcMethodHandler:
    async def before(request: Any, context: grpc.aio.ServicerContext) -> int:
        return latency_ms

    return _wrapped(handler, before)


def _wrapped(
    handler: grpc.RpcMethodHandler,
    before: Callable[[Any, grpc.aio.ServicerContext], Awaitable[int]],
) -> grpc.RpcMethodHandler:
    """Return handler run after `before` (which may refuse the call), its answer delayed by
    the milliseconds `before` returned."""
    inner = handler.unary_unary

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        latency_ms = await before(request, context)
        response = await inner(request, context)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        return response

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class SimControlServicer(pbc_grpc.SimControlServicer):  # type: ignore[misc, unused-ignore]  # untyped base
    """Every SimControl RPC over one SimController; never gated by faults or the rate limit."""

    def __init__(self, controller: SimController) -> None:
        self.controller = controller

    async def answer(
        self, context: grpc.aio.ServicerContext, method: str, fn: Callable[[], T]
    ) -> T:
        """Run fn on the event loop, with the simulator (see `answer`)."""
        return await answer(context, method, fn)

    @rpc
    def InjectPrice(self, request: Any) -> Any:
        """Trade the market at a price now."""
        symbol = rq.require_symbol(request.symbol)
        price = parse_decimal(request.price, "price", positive=True)
        volume = (
            parse_decimal(request.volume, "volume", non_negative=True) if request.volume else None
        )
        tick = self.controller.inject_price(symbol, price, volume)
        return pbc.InjectPriceResponse(tick=tick_to_pb(tick))

    @rpc
    def FillOrder(self, request: Any) -> Any:
        """Fill an open order from the exchange side."""
        symbol, order_id, client_order_id = _order_ref(request)
        quantity = rq.optional_decimal(request.quantity, "quantity")
        order = self.controller.engine.fill_order(symbol, order_id, client_order_id, quantity)
        return pbc.FillOrderResponse(order=order_to_pb(order))

    @rpc
    def ExchangeCancel(self, request: Any) -> Any:
        """Cancel an open order from the exchange side."""
        order = self.controller.engine.exchange_cancel(*_order_ref(request))
        return pbc.ExchangeCancelResponse(order=order_to_pb(order))

    @rpc
    def FailNextCalls(self, request: Any) -> Any:
        """Fail the next N ExchangeService calls with a status code."""
        if request.method and request.method not in EXCHANGE_METHODS:
            raise ValidationError(
                f"method must be '' or an ExchangeService method such as PlaceOrder, "
                f"received {request.method!r}"
            )
        self.controller.fail_next_calls(
            request.count, request.code or "UNAVAILABLE", request.method, request.symbol
        )
        return pbc.FailNextCallsResponse()

    @rpc
    def DropStreams(self, request: Any) -> Any:
        """End every open stream with UNAVAILABLE."""
        return pbc.DropStreamsResponse(dropped=self.controller.drop_streams())

    @rpc
    def SetFeed(self, request: Any) -> Any:
        """Pause, resume or retime the price feed."""
        self.controller.set_feed(request.paused, request.interval_ms)
        return pbc.SetFeedResponse()

    @rpc
    def SetLatency(self, request: Any) -> Any:
        """Add latency to every ExchangeService call."""
        self.controller.set_latency(request.latency_ms, request.symbol)
        return pbc.SetLatencyResponse()


def _order_ref(request: Any) -> tuple[str, str, str]:
    """Return the symbol, order id and client order id of a request naming one order."""
    symbol = rq.require_symbol(request.symbol)
    rq.require_order_ref(request.order_id, request.client_order_id)
    return symbol, request.order_id, request.client_order_id


def sim_control_service(controller: SimController) -> ExtraService:
    """Return SimControl over controller, to serve beside ExchangeService."""

    def add_to(server: grpc.aio.Server) -> None:
        pbc_grpc.add_SimControlServicer_to_server(SimControlServicer(controller), server)

    return ExtraService(SERVICE_NAME, add_to)
