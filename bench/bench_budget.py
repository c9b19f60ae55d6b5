"""Benchmark the fleet-wide rate budget: what one draw costs, and what one bucket takes.

    python bench/bench_budget.py [--draws 20000] [--tasks 1,16]

In the same run, on the same Redis: a plain round trip (PING) and a draw from a bucket large
enough never to wait (the Lua script: pause check, two or three buckets read and written), each
timed one at a time (p50 / p99 in µs) and with --tasks concurrent callers on one event loop
(draws/s). The ratio draw / PING says what the budget adds to a request beyond the round trip
any Redis call costs. Prints figures, asserts nothing. Needs Redis (REDIS_URL or the local
default; embedded otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_bridge import reserve_redis_db  # noqa: E402
from reserved import machine  # noqa: E402

from mmtasks.budget import Priority, RateBudget, VenueLimits  # noqa: E402

HUGE = VenueLimits(weight_per_minute=10**12, orders_per_10s=10**12, orders_per_minute=10**12)


def quantiles_us(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1e6, q[98] * 1e6


async def run(redis_url: str, draws: int, tasks: list[int]) -> None:
    budget = RateBudget(redis_url, "benchvenue", HUGE, ip="bench", api_key="bench")
    ping = budget.redis
    await budget.announce()
    try:
        for label, call in (
            ("PING (plain round trip)", ping.ping),
            ("draw: weight only (a read)", lambda: budget.draw(1, 0, Priority.READ)),
            ("draw: weight + orders (a new order)", lambda: budget.draw(1, 1, Priority.ENTRY)),
        ):
            for _ in range(500):  # warm the connection and the script cache
                await call()
            one_by_one = []
            for _ in range(draws):
                started = time.perf_counter()
                await call()
                one_by_one.append(time.perf_counter() - started)
            p50, p99 = quantiles_us(one_by_one)
            line = f"  {label:<38} p50 {p50:7.1f} µs  p99 {p99:7.1f} µs"
            for n in tasks:
                per_task = max(1, draws // n)

                async def worker(count: int = per_task, fn: Any = call) -> None:
                    for _ in range(count):
                        await fn()

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(n)))
                rate = n * per_task / (time.perf_counter() - started)
                line += f"  {n:>2} callers {rate:9.0f}/s"
            print(line, flush=True)
            if label.startswith("PING"):
                ping_p50 = p50
            else:
                print(f"  {'':<38} ratio to PING (p50): {p50 / ping_p50:.2f}")
    finally:
        await budget.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=20_000, help="calls timed per kind")
    parser.add_argument("--tasks", default="1,16", help="concurrent callers for the rate")
    args = parser.parse_args()
    from mmtasks.embedded import resolve_services

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url, admin, lock = reserve_redis_db(services.redis_url)
    print(f"rate budget benchmark ({machine()}); Redis {redis_url}")
    try:
        asyncio.run(run(redis_url, args.draws, [int(t) for t in args.tasks.split(",")]))
    finally:
        admin.delete(lock)


if __name__ == "__main__":
    main()
