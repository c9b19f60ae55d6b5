"""Fixtures of the signal fleet tests: the integration fixtures, and a kline pump."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
import redis as redis_lib

from tests.helpers import eventually
from tests.integration.conftest import (  # noqa: F401 - fixtures used by these tests
    _celery_app_on_test_redis,
    exchange,
    exchange_addr,
    fleet_env,
    ledger_url,
    pump,
    sim,
    workers,
)

KLINE_INTERVAL = "1s"


class KlinePump:
    """Stands in for the bridge's kline path: the connector's closed candles -> the inboxes.

    It uses the bridge's own validation (`candle_event_from_pb`) and the production write path
    (the bridge writer, through `tests.kit.feed.append_event`), as OrderPump does for orders.
    """

    def __init__(self, addr: str, redis_url: str, symbols: set[str]) -> None:
        from mmtasks.celery import app
        from mmtasks.pb.mm.v1 import exchange_pb2, exchange_pb2_grpc

        self.app = app
        self.redis = redis_lib.Redis.from_url(redis_url)
        self.symbols = symbols
        self.channel = grpc.insecure_channel(addr)
        stub = exchange_pb2_grpc.ExchangeServiceStub(self.channel)
        request = exchange_pb2.SubscribeKlinesRequest(
            symbols=sorted(symbols), interval=KLINE_INTERVAL
        )
        self._stream = stub.SubscribeKlines(request)
        self.appended = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from bridge.convert import candle_event_from_pb
        from tests.kit.feed import append_event

        try:
            for kline in self._stream:
                if kline.symbol not in self.symbols or not kline.closed:
                    continue
                append_event(self.redis, self.app, candle_event_from_pb(kline, self.symbols))
                self.appended += 1
        except grpc.RpcError:
            return

    def close(self) -> None:
        self._stream.cancel()
        self.channel.close()
        self.redis.close()


@pytest.fixture
def klines(exchange_addr: str, redis_url: str) -> Iterator[KlinePump]:  # noqa: F811
    """Pump the signal symbol's closed 1s candles into its inbox."""
    p = KlinePump(exchange_addr, redis_url, {"ALTUSDT"})
    eventually(p._thread.is_alive, timeout_s=5)
    yield p
    p.close()
