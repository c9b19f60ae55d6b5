"""Profile one price step that changes no order, in process: CPU per step and where it goes.

    python bench/profile_step.py [--steps 400] [--top 30]

The step runs as its task would (`run_step`) on real Redis and Postgres, with the venue in
process (SimVenue): GRID.md's long grid settled at 100 (with `--history`, after a walk down
and up through 2 x N levels, so it holds the slots a long-running symbol accumulates), then
prices inside its quiet band with the band removed before each step, so every task runs the
whole step (a stored band would let it end in one round trip: take.lua) and decides on a new
price that changes no order. Prints the CPU time per step (p50,
p90: `time.process_time`, so the machine's other load counts less than in wall time), then a
cProfile of the same steps sorted by cumulative time. Asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

from bench_bridge import reserve_redis_db  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="steps measured (default 400)")
    parser.add_argument("--top", type=int, default=30, help="profile lines shown (default 30)")
    parser.add_argument(
        "--sort",
        default="cumulative",
        help="profile order: cumulative or tottime (default cumulative)",
    )
    parser.add_argument(
        "--history", type=int, default=0, help="walk N levels up and down first (default 0)"
    )
    parser.add_argument(
        "--candles",
        type=int,
        default=0,
        help="closed 1m candles the symbol holds, as a long-running one does (default 0; "
        "a symbol keeps the risk's average_window + 5, 25 by default)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="keep the quiet band: measure the price task that takes no lock (take.lua)",
    )
    args = parser.parse_args()

    from mmtasks import native
    from mmtasks.celery import app
    from mmtasks.embedded import resolve_services
    from mmtasks.registry.migrate import migrate
    from mmtasks.settings import settings_for
    from mmtasks.state.keys import BEAT_LOCK
    from tests.kit.configs import GRID, sim_venue
    from tests.kit.desk import desk_for, desk_runtime
    from tests.kit.env import point_app_at

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url, admin, lock = reserve_redis_db(services.redis_url)
    try:
        point_app_at(redis_url)
        migrate(services.database_url)  # the ledger takes the walk's fills
        settings = settings_for(redis_url, services.database_url)
        desk = desk_for(
            desk_runtime(settings, redis_url, sim_venue("GRIDUSDT"), None), app, "GRIDUSDT"
        )
        desk.rt.redis.set(BEAT_LOCK, "bench")  # no beat-down alert from the step
        desk.init(GRID)
        desk.trade("100")
        prices = ["100.1", "100.2", "100.3", "100.2"]  # inside [95, 105): nothing changes
        if args.history:  # GRID's interval is 10: every level walked leaves its slot behind
            up = [str(100 + 10 * n) for n in range(1, args.history + 1)]
            desk.trade(*up, *reversed(up[:-1]), "100", *prices)  # settled at those prices
        if args.candles:
            feed_candles(desk, args.candles)
        slots = len(desk.text.hkeys(desk.keys.slots))
        candles = desk.text.hlen(desk.keys.candles)
        what = "price task inside the quiet band" if args.quiet else "price step, no order changed"

        def step(i: int) -> float:
            desk.move(prices[i % len(prices)])
            if not args.quiet:
                desk.text.delete(desk.keys.band)
            started = time.process_time()
            result = desk.step("price")
            spent = (time.process_time() - started) * 1000
            if result.actions:
                raise SystemExit(f"a step changed orders: {result.actions}")
            if args.quiet != result.skipped.startswith("quiet"):
                raise SystemExit(f"expected a {what}, the task answered {result.skipped!r}")
            return spent

        for i in range(50):  # warm caches
            step(i)
        cpu = sorted(step(i) for i in range(args.steps))
        print(
            f"{what} ({slots} slots, {candles} candles), {args.steps} tasks: CPU p50 "
            f"{statistics.median(cpu):.3f} ms  p90 {cpu[int(len(cpu) * 0.9)]:.3f} ms; "
            f"hot modules {native.summary()}"
        )
        if any(v == "compiled" for v in native.status().values()) and args.top:
            print("(cProfile does not see inside compiled functions: MMTASKS_PURE=1 to profile)")
        profile = cProfile.Profile()
        profile.enable()
        for i in range(args.steps):
            step(i)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        desk.close()
    finally:
        admin.delete(lock)


def feed_candles(desk: Any, count: int) -> None:
    """Append count closed one-minute candles (100 +- 1, ending now) and drain them."""
    from mmtasks.messages import CandleEvent, dump_event

    minute = int(time.time()) // 60 * 60_000
    for n in range(count):
        desk.store.append(
            dump_event(
                CandleEvent(
                    symbol=desk.symbol,
                    interval="1m",
                    open_ms=minute - (count - n) * 60_000,
                    open=Decimal("100"),
                    high=Decimal("101"),
                    low=Decimal("99"),
                    close=Decimal("100.1"),
                    volume=Decimal(10 + n % 3),
                    closed=True,
                )
            )
        )
    desk.step("candle")


if __name__ == "__main__":
    main()
