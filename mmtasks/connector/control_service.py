"""SimControl over gRPC: the test-control surface of the simulated exchange."""

from __future__ import annotations

from typing import Any

import grpc

from mmtasks.connector import requests as rq
from mmtasks.connector.convert import order_to_pb, tick_to_pb
from mmtasks.connector.service import answer
from mmtasks.decimals import parse_decimal
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import sim_control_pb2 as pbc
from mmtasks.pb.mm.v1 import sim_control_pb2_grpc as pbc_grpc
from mmtasks.sim.control import SimController

EXCHANGE_METHODS = frozenset(pb.DESCRIPTOR.services_by_name["ExchangeService"].methods_by_name)


class SimControlServicer(pbc_grpc.SimControlServicer):
    """Every SimControl RPC over one SimController; never gated by faults or the rate limit."""

    def __init__(self, controller: SimController) -> None:
        self.controller = controller

    async def InjectPrice(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Trade the market at a price now."""

        def call() -> Any:
            symbol = rq.require_symbol(request.symbol)
            price = parse_decimal(request.price, "price", positive=True)
            volume = (
                parse_decimal(request.volume, "volume", non_negative=True)
                if request.volume
                else None
            )
            return self.controller.inject_price(symbol, price, volume)

        tick = await answer(context, "InjectPrice", call)
        return pbc.InjectPriceResponse(tick=tick_to_pb(tick))

    async def FillOrder(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Fill an open order from the exchange side."""

        def call() -> Any:
            symbol = rq.require_symbol(request.symbol)
            rq.require_order_ref(request.order_id, request.client_order_id)
            quantity = rq.optional_decimal(request.quantity, "quantity")
            return self.controller.fill_order(
                symbol, request.order_id, request.client_order_id, quantity
            )

        order = await answer(context, "FillOrder", call)
        return pbc.FillOrderResponse(order=order_to_pb(order))

    async def ExchangeCancel(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Cancel an open order from the exchange side."""

        def call() -> Any:
            symbol = rq.require_symbol(request.symbol)
            rq.require_order_ref(request.order_id, request.client_order_id)
            return self.controller.exchange_cancel(
                symbol, request.order_id, request.client_order_id
            )

        order = await answer(context, "ExchangeCancel", call)
        return pbc.ExchangeCancelResponse(order=order_to_pb(order))

    async def FailNextCalls(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Fail the next N ExchangeService calls with a status code."""

        def call() -> None:
            if request.method and request.method not in EXCHANGE_METHODS:
                raise ValidationError(
                    f"method must be '' or an ExchangeService method such as PlaceOrder, "
                    f"received {request.method!r}"
                )
            self.controller.fail_next_calls(
                request.count, request.code or "UNAVAILABLE", request.method
            )

        await answer(context, "FailNextCalls", call)
        return pbc.FailNextCallsResponse()

    async def DropStreams(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """End every open stream with UNAVAILABLE."""
        dropped = await answer(context, "DropStreams", self.controller.drop_streams)
        return pbc.DropStreamsResponse(dropped=dropped)

    async def SetFeed(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Pause, resume or retime the price feed."""
        await answer(
            context,
            "SetFeed",
            lambda: self.controller.set_feed(request.paused, request.interval_ms),
        )
        return pbc.SetFeedResponse()

    async def SetLatency(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Add latency to every ExchangeService call."""
        await answer(context, "SetLatency", lambda: self.controller.set_latency(request.latency_ms))
        return pbc.SetLatencyResponse()
