"""Fixtures for tests that run the fleet's real processes (built from tests/kit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.state.keys import FLEET, keys_for
from tests.kit.configs import GRID
from tests.kit.feed import OrderPump
from tests.kit.fixtures import (
    _celery_app_on_test_redis,
    exchange,
    fleet_env,
    ledger_url,
    sim,
    workers,
)
from tests.kit.procs import connector

SYMBOLS = ("GRIDUSDT", "ALTUSDT")
# Other folders import these fixtures and helpers from here.
__all__ = [
    "GRID",
    "SYMBOLS",
    "_celery_app_on_test_redis",
    "exchange",
    "fleet_env",
    "ledger_rows",
    "ledger_url",
    "redis_position",
    "resting",
    "sim",
    "workers",
]


@pytest.fixture
def exchange_addr() -> Iterator[str]:
    """Run the simulated connector with no automatic feed: prices come only from the test."""
    with connector("--feed", "none", "--symbols", ",".join(SYMBOLS)) as addr:
        yield addr


@pytest.fixture
def pump(exchange_addr: str, redis_url: str) -> Iterator[OrderPump]:
    p = OrderPump(exchange_addr, redis_url, set(SYMBOLS))
    yield p
    p.close()


def ledger_rows(url: str, symbol: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT trade_id, side, price, qty FROM fills WHERE symbol = %s ORDER BY ts_ms",
            (symbol,),
        ).fetchall()


def resting(exchange: Any, symbol: str) -> list[tuple[str, Decimal]]:
    """Return the symbol's open orders at the exchange as sorted (side, price) pairs."""
    return sorted((o.side.value, o.price) for o in exchange.open_orders(symbol))


def redis_position(redis_client: redis_lib.Redis, symbol: str) -> dict[str, str]:
    return redis_client.hgetall(keys_for(symbol).position)


def worker_view(redis_client: redis_lib.Redis, symbol: str) -> dict[str, Any]:
    """Return what the worker knows of symbol, for a failure message: state, tick, slots."""
    k = keys_for(symbol)
    state = redis_client.hgetall(k.state)
    slots = [json.loads(v) for v in redis_client.hgetall(k.slots).values()]
    return {
        "state": {
            key: state.get(key)
            for key in ("status", "last_seq", "degraded_since_ms", "last_error", "breaker")
        },
        "cursor_of": redis_client.get(k.seq),
        "tick": redis_client.hgetall(k.tick),
        "price_pending": redis_client.exists(k.price_pending),
        "lock": redis_client.exists(k.lock),
        "queued": redis_client.llen(symbol.lower()),
        "fleet": redis_client.hget(FLEET, "state"),
        "slots": sorted((s["side"], s["price"], s["status"]) for s in slots),
    }
