"""Sync gRPC client of SimControl: steer a connector's simulated exchange from tests and tools."""

from __future__ import annotations

from mmtasks.connector.client import ChannelClient
from mmtasks.decimals import canon, parse_decimal
from mmtasks.pb.mm.v1 import sim_control_pb2 as pbc
from mmtasks.pb.mm.v1 import sim_control_pb2_grpc as pbc_grpc
from mmtasks.venue import codec
from mmtasks.venue.port import Number
from mmtasks.venue.types import Order, PriceTick


def _wire(value: Number, field: str) -> str:
    # "" leaves the field unset (the server's default); floats are refused by parse_decimal.
    return "" if value == "" else canon(parse_decimal(value, field))


class SimControlClient(ChannelClient):
    """Inject prices, force fills and cancels, schedule failures, drop streams, steer the feed."""

    _stub_class = pbc_grpc.SimControlStub

    def inject_price(self, symbol: str, price: Number, volume: Number = "") -> PriceTick:
        """Trade the market at a price now; return the tick."""
        request = pbc.InjectPriceRequest(
            symbol=symbol, price=_wire(price, "price"), volume=_wire(volume, "volume")
        )
        return codec.tick_from_pb(self._call("InjectPrice", request).tick)

    def fill_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        quantity: Number = "",
    ) -> Order:
        """Fill an open order from the exchange side ('' quantity: the remainder)."""
        request = pbc.FillOrderRequest(
            symbol=symbol,
            order_id=order_id or "",
            client_order_id=client_order_id or "",
            quantity=_wire(quantity, "quantity"),
        )
        return codec.order_from_pb(self._call("FillOrder", request).order)

    def exchange_cancel(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel an open order from the exchange side."""
        request = pbc.ExchangeCancelRequest(
            symbol=symbol, order_id=order_id or "", client_order_id=client_order_id or ""
        )
        return codec.order_from_pb(self._call("ExchangeCancel", request).order)

    def fail_next_calls(
        self, count: int, code: str = "UNAVAILABLE", method: str = "", symbol: str = ""
    ) -> None:
        """Fail the next `count` ExchangeService calls (of `method`, or naming `symbol`)."""
        self._call(
            "FailNextCalls",
            pbc.FailNextCallsRequest(count=count, code=code, method=method, symbol=symbol),
        )

    def drop_streams(self) -> int:
        """End every open stream with UNAVAILABLE; return how many."""
        return int(self._call("DropStreams", pbc.DropStreamsRequest()).dropped)

    def set_feed(self, paused: bool, interval_ms: int = 0) -> None:
        """Pause or resume the price feed; a non-zero interval_ms retimes it."""
        self._call("SetFeed", pbc.SetFeedRequest(paused=paused, interval_ms=interval_ms))

    def set_latency(self, ms: int, symbol: str = "") -> None:
        """Add ms of latency to every ExchangeService call (naming symbol, when given)."""
        self._call("SetLatency", pbc.SetLatencyRequest(latency_ms=ms, symbol=symbol))
