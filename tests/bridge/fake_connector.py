"""A real gRPC server that serves only ExchangeService's streams, fed by the test.

The simulated exchange never sends malformed data; this one sends whatever the test pushes,
so validation at the bridge's edge is tested over a real connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

_END = object()


class _Feed:
    """One stream kind: every open subscription gets every message pushed after it opened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Any]] = []
        self.requests: list[Any] = []
        self.batched_requests = 0  # subscriptions served as PriceTicks

    def subscribe(
        self, request: Any, context: grpc.ServicerContext, *, batched: bool = False
    ) -> Iterator[Any]:
        """Stream what is pushed; batched: as PriceTicks of everything queued at that moment."""
        inbox: queue.Queue[Any] = queue.Queue()
        with self._lock:
            self._subscribers.append(inbox)
            self.requests.append(request)
            self.batched_requests += batched
        context.send_initial_metadata(())
        try:
            while context.is_active():
                try:
                    msg = inbox.get(timeout=0.1)
                except queue.Empty:
                    continue
                if msg is _END:
                    return
                if not batched:
                    yield msg
                    continue
                batch, end = [msg], False
                while not end:
                    try:
                        more = inbox.get_nowait()
                    except queue.Empty:
                        break
                    end = more is _END
                    if not end:
                        batch.append(more)
                yield pb.PriceTicks(ticks=batch)
                if end:
                    return
        finally:
            with self._lock:
                self._subscribers.remove(inbox)

    def push(self, *msgs: Any) -> None:
        with self._lock:
            for inbox in self._subscribers:
                for msg in msgs:
                    inbox.put(msg)

    def end_all(self) -> int:
        with self._lock:
            for inbox in self._subscribers:
                inbox.put(_END)
            return len(self._subscribers)

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


class _Servicer(pb_grpc.ExchangeServiceServicer):
    def __init__(self, fake: FakeConnector) -> None:
        self.fake = fake

    def SubscribePrice(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return self.fake.prices.subscribe(request, context)

    def SubscribePriceBatches(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return self.fake.prices.subscribe(request, context, batched=True)

    def SubscribeOrders(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return self.fake.orders.subscribe(request, context)

    def SubscribeKlines(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return self.fake.klines.subscribe(request, context)


class FakeConnector:
    """Serve ExchangeService streams on 127.0.0.1; push messages into them from the test."""

    def __init__(self, port: int = 0) -> None:
        self.prices, self.orders, self.klines = _Feed(), _Feed(), _Feed()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb_grpc.add_ExchangeServiceServicer_to_server(_Servicer(self), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.addr = f"127.0.0.1:{self.port}"
        self._server.start()

    def streams_open(self) -> bool:
        """Return True when the bridge has all three streams open."""
        return min(self.prices.open_count, self.orders.open_count, self.klines.open_count) > 0

    def drop_streams(self) -> int:
        """End every open stream (the bridge sees them close); return how many."""
        return self.prices.end_all() + self.orders.end_all() + self.klines.end_all()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)


def tick(symbol: str, price: str, ts_ms: int, seq: int) -> pb.PriceTick:
    return pb.PriceTick(symbol=symbol, price=price, ts_event_ms=ts_ms, seq=seq)


def order_update(
    symbol: str,
    order_id: str,
    *,
    status: int = pb.ORDER_STATUS_NEW,
    side: int = pb.SIDE_BUY,
    price: str = "100",
    quantity: str = "1",
    executed: str = "0",
    trade_id: str = "",
    ts_ms: int,
    seq: int = 0,
) -> pb.OrderUpdate:
    order = pb.Order(
        symbol=symbol,
        order_id=order_id,
        client_order_id=f"c{order_id}",
        side=side,
        type=pb.ORDER_TYPE_LIMIT,
        time_in_force=pb.TIME_IN_FORCE_GTC,
        price=price,
        quantity=quantity,
        executed_qty=executed,
        avg_price=price if executed != "0" else "0",
        status=status,
        created_ms=ts_ms,
        updated_ms=ts_ms,
    )
    update = pb.OrderUpdate(order=order, ts_event_ms=ts_ms, seq=seq)
    if trade_id:
        update.last_trade.CopyFrom(
            pb.Trade(
                trade_id=trade_id,
                order_id=order_id,
                symbol=symbol,
                side=side,
                price=price,
                quantity=executed,
                fee="0.01",
                ts_ms=ts_ms,
            )
        )
    return update


def kline(symbol: str, open_ms: int, close: str, *, closed: bool = True) -> pb.Kline:
    return pb.Kline(
        symbol=symbol,
        interval="1m",
        open_ms=open_ms,
        close_ms=open_ms + 59_999,
        open=close,
        high=close,
        low=close,
        close=close,
        volume="3",
        closed=closed,
    )
