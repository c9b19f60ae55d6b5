"""Build and run the Binance-speaking simulator: its engines, feed and HTTP server.

`build(options)` makes the two markets (USDⓈ-M and spot, the same symbols, the spot market
following the futures price), `SimServer` serves them with uvicorn on a thread (tests) or on the
main thread (the CLI), and says which port it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import uvicorn

from mmtasks.sim.binance.app import create_app
from mmtasks.sim.binance.auth import Signer
from mmtasks.sim.binance.limits import LimitConfig
from mmtasks.sim.binance.markets import CLIENT_ID_PATTERN
from mmtasks.sim.binance.rest import BinanceSim
from mmtasks.sim.binance.spot import SpotMarket
from mmtasks.sim.binance.usdm import UsdmMarket
from mmtasks.sim.engine import ShiftedClock, SimExchange, wall_clock_ms
from mmtasks.sim.feeds import make_feed
from mmtasks.sim.models import SimConfig
from mmtasks.sim.runner import FeedRunner
from mmtasks.venue.types import PriceTick

DEFAULT_KEYS = {"mmtasks-sim-key": "mmtasks-sim-secret"}


@dataclass(frozen=True)
class SimOptions:
    """Everything the simulator is started with."""

    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    start_prices: Mapping[str, Decimal] = field(default_factory=dict)
    feed: str = "none"
    tick_ms: int = 200
    seed: int = 0
    keys: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    limits: LimitConfig = field(default_factory=LimitConfig)
    liquidity: Decimal | None = None
    starting_balance: Decimal = Decimal(1_000_000)


def build(options: SimOptions) -> tuple[BinanceSim, FeedRunner]:
    """Return the simulator's state and its feed (not started)."""

    def config(id_prefix: str) -> SimConfig:
        return SimConfig(
            symbols=options.symbols,
            start_prices=dict(options.start_prices),
            liquidity=options.liquidity,
            starting_balance=options.starting_balance,
            numeric_ids=True,
            client_order_id_pattern=CLIENT_ID_PATTERN,
            id_prefix=id_prefix,
        )

    clock = ShiftedClock()  # the markets' (orders, trades, candles); signing keeps the wall's
    usdm_engine = SimExchange(config(""), clock=clock)
    spot_engine = SimExchange(config(""), clock=clock)

    def follow(tick: PriceTick) -> None:  # spot trades at the futures price
        spot_engine.apply_price(tick.symbol, tick.price, tick.volume)

    usdm_engine.add_listener("price", follow)
    sim = BinanceSim(
        UsdmMarket(usdm_engine),
        SpotMarket(spot_engine),
        Signer(options.keys, wall_clock_ms),
        options.limits,
    )
    sim.clock = clock
    rules = {s: usdm_engine.rules(s) for s in usdm_engine.symbols}
    runner = FeedRunner(usdm_engine, make_feed(options.feed, rules, options.seed), options.tick_ms)
    return sim, runner


def free_socket(host: str, port: int) -> socket.socket:
    """Bind host:port (0: any free port) and return the listening socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class SimServer:
    """The simulator served by uvicorn; `start()` on a thread, `run()` in the foreground."""

    def __init__(self, options: SimOptions, host: str = "127.0.0.1", port: int = 0) -> None:
        self.options = options
        self.sim, self.runner = build(options)
        self.sock = free_socket(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(self.sim),
            log_level="warning",
            ws="auto",
            lifespan="off",
            ws_ping_interval=None,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def serve(self) -> None:
        feed = asyncio.create_task(self.runner.run_async())
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            self.runner.stop()
            with contextlib.suppress(Exception):
                await feed

    def start(self) -> SimServer:
        """Serve on a daemon thread; return once it answers."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve()), name="binance-sim", daemon=True
        )
        self._thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            threading.Event().wait(0.025)
        raise RuntimeError("the Binance simulator did not start within 5 s")

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
