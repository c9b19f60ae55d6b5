"""Benchmark a real-venue connector: tick-to-order latency through ccxt, beside the gRPC sim.

    python bench/bench_venue.py [--symbols 1,8] [--samples 40] [--venues sim,binanceusdm]

For each venue and symbol count, in the same run: the connector (`--sim`, or `--venue
binanceusdm --base-url` on the Binance-speaking simulator, `python -m mmtasks.sim.binance`,
through unmodified ccxt), the bridge and symbol workers (min(N, 8) processes), every symbol
ticking every 200 ms on a random walk. Probes, as in bench_bridge.py: one symbol at a time gets
a price two grid intervals away, so its worker must place orders. Latency = created_ms of the
first order of that symbol created at or after the tick minus the tick's ts_event_ms; both
stamps come from the exchange's own clock (the simulator's engine), so this is exchange ->
connector -> bridge -> Redis/Celery -> worker step -> PlaceOrder -> (ccxt -> HTTP ->) exchange.
Prints figures, asserts nothing. Needs Redis and Postgres (the local defaults, or embedded).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_bridge import print_latency, probe, probe_fleet  # noqa: E402
from reserved import machine, reserved_services  # noqa: E402


@contextlib.contextmanager
def exchange_for(venue: str, symbols: list[str], redis_url: str) -> Iterator[tuple[str, Any]]:
    """Yield (connector address, price control) for venue 'sim' or a ccxt id."""
    from mmtasks.connector.sim_client import SimControlClient
    from tests.kit.binance import BinanceSimControl
    from tests.kit.procs import binance_sim, connector, venue_connector

    feed = ("--feed", "random", "--tick-ms", "200", "--symbols", ",".join(symbols))
    if venue == "sim":
        with connector(*feed, "--log-level", "WARNING") as addr:
            control: Any = SimControlClient(addr)
            try:
                yield addr, control
            finally:
                control.close()
        return
    with (
        binance_sim(*feed, "--log-level", "WARNING") as base,
        venue_connector(
            venue,
            base,
            *("--symbols", ",".join(symbols), "--log-level", "WARNING"),
            env={"REDIS_URL": redis_url},  # the rate budget in the bench's own Redis
        ) as addr,
    ):
        control = BinanceSimControl(base)
        try:
            yield addr, control
        finally:
            control.close()


def latency(venue: str, n: int, samples: int, redis_url: str, database_url: str) -> None:
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for
    from tests.kit.env import fleet_env
    from tests.kit.procs import Worker

    redis.Redis.from_url(redis_url).flushdb()
    use_services(app, settings_for(redis_url, database_url))
    symbols = [f"VB{i:02d}USDT" for i in range(n)]
    client = redis.Redis.from_url(redis_url)
    with exchange_for(venue, symbols, redis_url) as (addr, control):
        env = fleet_env(redis_url, database_url, addr, LOG_LEVEL="WARNING")
        n_workers = min(n, 8)
        groups = [symbols[i::n_workers] for i in range(n_workers)]
        workers = [Worker([s.lower() for s in g], env, name=f"bv{i}") for i, g in enumerate(groups)]
        try:
            with probe_fleet(addr, env, symbols, control) as (exchange, mover, watch):
                got = probe(client, exchange, mover, watch, symbols, samples)
        finally:
            for worker in workers:
                worker.stop()
    print_latency(
        f"{venue:>12} {n:>2} symbols",
        got,
        f"({len(got)}/{samples} probes, {n_workers} worker processes)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", default="1,8", help="symbol counts (default 1,8)")
    parser.add_argument("--samples", type=int, default=40, help="probes per run (default 40)")
    parser.add_argument("--venues", default="sim,binanceusdm", help="sim and/or ccxt ids")
    args = parser.parse_args()

    services, redis_url, admin, lock = reserved_services()
    print(
        f"venue benchmark ({machine()} at start): exchange tick ts_event_ms -> order created_ms, "
        "every symbol ticking every 200 ms"
    )
    try:
        for n in (int(x) for x in args.symbols.split(",")):
            for venue in args.venues.split(","):
                latency(venue, n, args.samples, redis_url, services.database_url)
    finally:
        admin.delete(lock)


if __name__ == "__main__":
    main()
