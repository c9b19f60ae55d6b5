"""Benchmark isolation between symbols in one worker process: a failing and a slow neighbour.

    python bench/bench_isolation.py [--samples 60] [--slow-ms 2000]

One `celery worker -P threads -c 8` (the production layout, mmtasks/assign.py) holds eight
symbols on the simulated connector with a random-walk feed (every symbol ticks every 200 ms).
Six of them are probed as in bench_bridge.py (an injected price two grid intervals away; tick
-> order latency from the connector's own stamps). Run twice in the same invocation: once
with all eight healthy, once with every venue call naming BADUSDT failing and every call naming
SLOWUSDT delayed by --slow-ms. Prints p50/p99 of both and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_bridge import GRID, probe, probe_fleet  # noqa: E402
from reserved import machine, reserved_services  # noqa: E402

BAD, SLOW = "BADUSDT", "SLOWUSDT"
HEALTHY = [f"OK{i}USDT" for i in range(6)]
SYMBOLS = [BAD, SLOW, *HEALTHY]


def run(faulted: bool, args: argparse.Namespace, redis_url: str, database_url: str) -> list[float]:
    """Return the six healthy symbols' tick -> order samples (ms), with or without the faults."""
    from mmtasks.celery import app, use_services
    from mmtasks.registry.symbol_commands import init_symbol
    from mmtasks.settings import settings_for
    from tests.kit.env import fleet_env
    from tests.kit.procs import Worker, connector

    redis.Redis.from_url(redis_url).flushdb()
    use_services(app, settings_for(redis_url, database_url))
    client = redis.Redis.from_url(redis_url)
    feed = ("--feed", "random", "--tick-ms", "200", "--symbols", ",".join(SYMBOLS))
    with connector(*feed, "--log-level", "WARNING") as addr:
        env = fleet_env(redis_url, database_url, addr, LOG_LEVEL="WARNING")
        worker = Worker([s.lower() for s in SYMBOLS], env, name="isolation")
        try:
            with probe_fleet(addr, env, SYMBOLS) as (exchange, sim, watch):
                for symbol in (BAD, SLOW):
                    init_symbol(client, app, exchange, symbol, GRID)
                deadline = time.monotonic() + 120
                while any(len(exchange.open_orders(s)) < 6 for s in (BAD, SLOW)):
                    if time.monotonic() > deadline:
                        raise SystemExit("the worker did not place BADUSDT's and SLOWUSDT's grids")
                    time.sleep(0.2)
                if faulted:
                    sim.fail_next_calls(1_000_000, "UNAVAILABLE", symbol=BAD)
                    sim.set_latency(args.slow_ms, symbol=SLOW)
                return probe(client, exchange, sim, watch, HEALTHY, args.samples)
        finally:
            worker.stop()


def figures(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49], q[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60, help="probes per run (default 60)")
    parser.add_argument(
        "--slow-ms", type=int, default=2000, help="latency of SLOWUSDT's calls (default 2000)"
    )
    args = parser.parse_args()

    services, redis_url, admin, lock = reserved_services()
    print(f"isolation benchmark ({machine()}); 8 symbols in one worker process, 6 probed")
    try:
        calm = run(False, args, redis_url, services.database_url)
        p50, p99 = figures(calm)
        print(f"  {'all healthy:':<36}tick-to-order p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
        stormy = run(True, args, redis_url, services.database_url)
        f50, f99 = figures(stormy)
        print(
            f"  BADUSDT failing, SLOWUSDT +{args.slow_ms} ms: tick-to-order p50 {f50:6.1f} ms  "
            f"p99 {f99:6.1f} ms  (x{f50 / p50:.2f} p50, x{f99 / p99:.2f} p99)"
        )
    finally:
        admin.delete(lock)


if __name__ == "__main__":
    main()
