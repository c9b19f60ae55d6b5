"""The Binance-speaking simulator on a thread of the test process, and raw signed HTTP to it."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mmtasks.sim.binance.limits import LimitConfig
from mmtasks.sim.binance.server import DEFAULT_KEYS, SimOptions, SimServer

KEY, SECRET = next(iter(DEFAULT_KEYS.items()))


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def make(**kw: Any) -> SimServer:
        server = SimServer(SimOptions(**kw)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sim(make_sim: Callable[..., SimServer]) -> SimServer:
    """BTCUSDT and ETHUSDT at their start prices, no feed: prices move only when a test says."""
    return make_sim(limits=LimitConfig())


def now_ms() -> int:
    return int(time.time() * 1000)


def signed(
    base: str,
    method: str,
    path: str,
    params: dict[str, str],
    *,
    secret: str = SECRET,
    key: str = KEY,
    timestamp: int | None = None,
) -> httpx.Response:
    """Send a SIGNED request the way Binance documents it: query for GET/DELETE, form body else."""
    query = "&".join(f"{k}={v}" for k, v in {"timestamp": timestamp or now_ms(), **params}.items())
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": key}
    if method in ("GET", "DELETE"):
        return httpx.request(method, f"{base}{path}?{query}&signature={signature}", headers=headers)
    headers["content-type"] = "application/x-www-form-urlencoded"
    return httpx.request(
        method, f"{base}{path}", content=f"{query}&signature={signature}", headers=headers
    )


def set_price(server: SimServer, symbol: str, price: str, market: str = "usdm") -> None:
    httpx.post(
        f"{server.base_url}/_sim/price", json={"symbol": symbol, "price": price, "market": market}
    ).raise_for_status()


@pytest.fixture
def make_venue(sim: SimServer) -> Iterator[Callable[..., Any]]:
    """CcxtVenue instances on the simulator (binanceusdm unless said), closed after the test."""
    from mmtasks.venues.ccxt import CcxtConfig, CcxtVenue

    made: list[CcxtVenue] = []

    def make(exchange_id: str = "binanceusdm", **kw: Any) -> CcxtVenue:
        config = CcxtConfig(
            exchange_id,
            symbols=kw.pop("symbols", ("BTCUSDT", "ETHUSDT")),
            base_url=kw.pop("base_url", sim.base_url),
            api_key=kw.pop("api_key", KEY),
            secret=kw.pop("secret", SECRET),
            **kw,
        )
        venue = CcxtVenue(config)
        made.append(venue)
        return venue

    yield make
    for venue in made:
        venue.close()


def sim_orders(server: SimServer, market: str = "usdm") -> list[dict[str, Any]]:
    """The simulator's open orders, read from its own books (not through ccxt)."""
    answer: list[dict[str, Any]] = httpx.get(
        f"{server.base_url}/_sim/orders", params={"market": market}
    ).json()
    return answer


def set_faults(server: SimServer, **faults: Any) -> None:
    httpx.post(f"{server.base_url}/_sim/faults", json=faults).raise_for_status()


def sim_trades(server: SimServer, market: str = "usdm") -> list[dict[str, Any]]:
    """The simulator's trades, read from its own engine (not through ccxt)."""
    answer: list[dict[str, Any]] = httpx.get(
        f"{server.base_url}/_sim/trades", params={"market": market}
    ).json()
    return answer


def set_clock(server: SimServer, shift_ms: int) -> None:
    """Move the simulator's markets' clock (orders and trades made then); signing keeps time."""
    httpx.post(f"{server.base_url}/_sim/clock", json={"shift_ms": shift_ms}).raise_for_status()
