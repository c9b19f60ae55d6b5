"""Benchmark one symbol worker: events/s and tick-to-order latency, against a no-op baseline.

Starts the simulated connector and one real `celery -A mmtasks worker` on queue `benchusdt`,
then measures in the same run:
  * no-op tasks/s: `mmtasks.symbol.ping` on the same queue (Celery's own floor);
  * price tasks/s for ticks inside the settled grid's quiet band: the task sees in one round
    trip that the price changes nothing and runs no step (the common case: most ticks move
    nothing; the bridge sends no task for most of them, this is the one it did send);
  * price steps/s: the same ticks with the band removed, so each task runs the whole step
    (lock, load, decide, commit) on a price that changes no order;
  * inbox events/s: a burst of order events drained by one wake (how bursts are absorbed);
  * tick-to-order latency p50/p99: tick published -> order created at the exchange;
  * worker RSS and PSS.
Each ratio is to the no-op runs just before and after it, over --rounds rounds (median shown).
Usage: python bench/bench_worker.py [--n 2000] [--rounds 3] [--latency-samples 200]
Needs Redis and Postgres (REDIS_URL / DATABASE_URL or the local defaults).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_bridge import memory_of  # noqa: E402

from mmtasks.embedded import resolve_services  # noqa: E402
from mmtasks.registry.migrate import migrate  # noqa: E402

SYMBOL = "BENCHUSDT"
QUEUE = SYMBOL.lower()
GRID = {
    "mode": "neutral",
    "interval": "0.5",
    "buy_levels": 5,
    "sell_levels": 5,
    "order_qty": "1",
    "post_only": False,
}


def wait_for(fn, timeout_s: float = 120.0, interval_s: float = 0.002) -> float:  # type: ignore[no-untyped-def]
    """Poll fn until truthy; return the monotonic time it became true."""
    deadline = time.monotonic() + timeout_s
    while not fn():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out waiting for the worker")
        time.sleep(interval_s)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks/events per throughput run")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of quiet and step runs between no-op runs"
    )
    args = parser.parse_args()

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url = services.redis_url.rsplit("/", 1)[0] + "/14"
    os.environ.update(
        REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, DATABASE_URL=services.database_url
    )
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    migrate(services.database_url)

    from mmtasks.celery import app, use_services
    from mmtasks.enqueue import wake
    from mmtasks.messages import OrderEvent
    from mmtasks.registry.symbol_commands import init_symbol
    from mmtasks.settings import settings_for
    from mmtasks.state.keys import keys_for
    from tests.kit.env import fleet_env
    from tests.kit.feed import publish_tick
    from tests.kit.procs import Worker, connector

    use_services(app, settings_for(redis_url, services.database_url))
    k = keys_for(SYMBOL)
    with connector("--feed", "none", "--symbols", SYMBOL) as addr:
        os.environ["CONNECTOR_ADDR"] = addr
        from mmtasks.connector.client import ExchangeClient
        from mmtasks.connector.sim_client import SimControlClient

        exchange, sim = ExchangeClient(addr), SimControlClient(addr)
        # One thread of the production layout (mmtasks/assign.py): with one symbol, more threads
        # would only coalesce its tasks, and this measures what one full step costs.
        env = fleet_env(redis_url, services.database_url, addr)
        worker = Worker([QUEUE], env, name="bench", pool="threads", concurrency=1)
        try:
            init_symbol(r, app, exchange, SYMBOL, GRID)
            tick = sim.inject_price(SYMBOL, "100")
            publish_tick(r, app, SYMBOL, Decimal("100"), tick.ts_event_ms, tick.seq)
            wait_for(lambda: len(exchange.open_orders(SYMBOL)) >= 10)

            # 1. and 2. Tasks on the symbol's queue, each phase under the same load: the
            # queue is filled while the worker is detached from it, then timed as it empties
            # (sending excluded), while a ticker moves the symbol's tick every millisecond,
            # always inside the grid's quiet band (levels every 0.5 around 100: 100.0 .. 100.2
            # changes no order).
            #  - no-op: `ping`, Celery's own floor, measured before and after the others;
            #  - price task, tick in the band (as the fleet runs: the settled grid's band is
            #    stored): the task sees in its one round trip (take.lua) that the price changes
            #    nothing and runs no step;
            #  - price step: the band removed with every tick, so each task runs the whole
            #    step (lock, load, decide, commit) on a new price that changes no order.
            import threading

            wait_for(lambda: r.exists(k.band), timeout_s=30)  # the acks' step settles the grid
            band = r.hgetall(k.band)

            def rate(task: str, count: int, keep_band: bool = True, trips: int = 0) -> float:
                def moving_ticks() -> None:
                    i = 0
                    while r.llen(QUEUE):
                        price = Decimal("100") + Decimal(i % 3) / 10
                        pipe = r.pipeline(transaction=False)
                        pipe.hset(
                            k.tick,
                            mapping={
                                "price": str(price),
                                "ts_event_ms": str(int(time.time() * 1000)),
                                "seq": str(i),
                            },
                        )
                        if not keep_band:
                            pipe.delete(k.band)
                        pipe.execute()
                        i += 1
                        time.sleep(0.001)

                ticker = threading.Thread(target=moving_ticks, daemon=True)
                app.control.cancel_consumer(QUEUE, destination=[worker.name], reply=True)
                task_args = [SYMBOL, 0.0, trips] if trips else [SYMBOL]
                for _ in range(count):
                    app.send_task(task, args=task_args, queue=QUEUE, ignore_result=True)
                ticker.start()
                t0 = time.monotonic()
                app.control.add_consumer(QUEUE, destination=[worker.name], reply=True)
                # Queue empty = all taken; at most the one prefetched task is still running.
                taken = count / (wait_for(lambda: r.llen(QUEUE) == 0) - t0)
                ticker.join()
                time.sleep(0.2)  # the last task ends
                r.hset(k.band, mapping=band)
                return taken

            # Rounds of no-op, quiet and step, the no-op again at the end: each round's ratio
            # is to the no-op runs on either side of it, so a change in the machine's load
            # between phases (these machines are shared) moves a round, not the whole result.
            steps = args.n // 2
            noops = [rate("mmtasks.symbol.ping", steps)]
            quiets: list[float] = []
            stepped: list[float] = []
            floors: list[float] = []  # a no-op making the whole step's two round trips
            for _ in range(args.rounds):
                quiets.append(rate("mmtasks.symbol.on_price", steps))
                stepped.append(rate("mmtasks.symbol.on_price", steps, keep_band=False))
                floors.append(rate("mmtasks.symbol.ping", steps, trips=2))
                noops.append(rate("mmtasks.symbol.ping", steps))
            around = [(a + b) / 2 for a, b in itertools.pairwise(noops)]
            quiet_ratios = [q / n for q, n in zip(quiets, around, strict=True)]
            step_ratios = [s / n for s, n in zip(stepped, around, strict=True)]
            floor_ratios = [f / n for f, n in zip(floors, around, strict=True)]
            noop_rate = statistics.median(noops)
            quiet_rate, step_rate = statistics.median(quiets), statistics.median(stepped)

            # 3. a burst of order events drained from the inbox by one wake.
            target = int(r.get(k.seq) or 0) + args.n
            pipe_events = [
                OrderEvent(
                    symbol=SYMBOL,
                    order_id=f"x{i}",
                    client_order_id=f"zz{i}",
                    side="BUY",
                    status="NEW",
                    price=Decimal("1"),
                    quantity=Decimal("1"),
                    executed_qty=Decimal("0"),
                    avg_price=Decimal("0"),
                    trade=None,
                    ts_event_ms=int(time.time() * 1000),
                )
                for i in range(args.n)
            ]
            from mmtasks.state.store import SymbolStore

            store = SymbolStore(r, SYMBOL)
            for ev in pipe_events:
                store.append(ev.model_dump(mode="json"))
            appended = time.monotonic()
            wake(app, SYMBOL)
            wait_for(lambda: int(r.hget(k.state, "last_seq") or 0) >= target)
            drain_s = time.monotonic() - appended
            drain_events = args.n / drain_s

            # 4. tick-to-order latency: each tick moves the grid so one new order is placed.
            latencies = []
            prices = [Decimal("100"), Decimal("100.5")]
            for i in range(args.latency_samples):
                price = prices[i % 2] + (Decimal(i // 2 % 2) * 5)
                before = {o.order_id for o in exchange.open_orders(SYMBOL)}
                sent_ms = time.time() * 1000
                publish_tick(r, app, SYMBOL, price, int(sent_ms), 10_000 + i)
                try:
                    wait_for(
                        lambda b=before: {o.order_id for o in exchange.open_orders(SYMBOL)} - b,
                        timeout_s=5,
                    )
                except SystemExit:
                    continue
                new = [o for o in exchange.open_orders(SYMBOL) if o.order_id not in before]
                latencies.append(min(o.created_ms for o in new) - sent_ms)
            rss, pss = memory_of([worker.proc.pid])
        finally:
            worker.stop()
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0] * 99
        print(f"worker benchmark ({SYMBOL}, 1 worker, threads -c 1, {os.cpu_count()} cores)")

        def spread(ratios: list[float]) -> str:
            return f"median {statistics.median(ratios):.2f}, rounds " + " ".join(
                f"{r:.2f}" for r in ratios
            )

        print(
            f"  no-op Celery task (ping):      {noop_rate:8.0f} tasks/s "
            f"(median of {len(noops)} runs: " + " ".join(f"{n:.0f}" for n in noops) + ")"
        )
        print(
            f"  price task, tick in the band:  {quiet_rate:8.0f} tasks/s "
            f"(ratio to no-op {spread(quiet_ratios)}; no step: one round trip)"
        )
        print(
            f"  price step, no order changed: {step_rate:8.0f} steps/s "
            f"(ratio to no-op {spread(step_ratios)}; the whole step)"
        )
        print(
            f"  no-op + 2 Redis round trips:  {statistics.median(floors):8.0f} tasks/s "
            f"(ratio to no-op {spread(floor_ratios)}; the floor of a step with its round trips)"
        )
        print(
            f"  inbox burst drained by 1 wake: {drain_events:8.0f} events/s "
            f"(ratio to no-op {drain_events / noop_rate:.2f}; order updates for ids the grid "
            "does not hold: the drain path, not fill accounting)"
        )
        print(
            f"  tick-to-order latency:         p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms "
            f"({len(latencies)} samples)"
        )
        print(f"  worker RSS / PSS:              {rss:.0f} / {pss:.0f} MiB")


if __name__ == "__main__":
    main()
