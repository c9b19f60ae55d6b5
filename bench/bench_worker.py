"""Benchmark one worker process: events/s and tick-to-order latency, against a no-op baseline.

Starts the simulated connector and one real `celery -A mmtasks worker` on queue `benchusdt`
(with --symbols N, on N symbols' queues, in the production layout: mmtasks/assign.py's pool of
threads over them; tasks go to the symbols in turn), then measures in the same run:
  * no-op tasks/s: `mmtasks.symbol.ping` on the same queues (Celery's own floor);
  * price tasks/s for ticks inside the settled grid's quiet band: the task sees in one round
    trip that the price changes nothing and runs no step (the common case: most ticks move
    nothing; the bridge sends no task for most of them, this is the one it did send);
  * price steps/s: the same ticks with the band removed, so each task runs the whole step
    (lock, load, decide, commit) on a price that changes no order;
  * inbox events/s: a burst of order events drained by one wake (how bursts are absorbed);
  * tick-to-order latency p50/p99: tick published -> order created at the exchange;
  * worker RSS and PSS.
Each ratio is to the no-op runs just before and after it, over --rounds rounds (median shown).
Beside each rate, the worker's CPU time a task (all its threads and pool processes, from
/proc): what a task
costs the process whatever the machine's other load does to the wall clock.
Usage: python bench/bench_worker.py [--n 2000] [--rounds 3] [--latency-samples 200]
                                    [--symbols 1] [--pool threads|prefork] [--concurrency N]
Needs Redis and Postgres (REDIS_URL / DATABASE_URL or the local defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_bridge import cpu_seconds, memory_of  # noqa: E402

from mmtasks import native  # noqa: E402
from mmtasks.assign import THREADS  # noqa: E402
from mmtasks.embedded import resolve_services  # noqa: E402
from mmtasks.registry.migrate import migrate  # noqa: E402

SYMBOL = "BENCHUSDT"
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


def tree_cpu(pid: int) -> float:
    """Return the CPU seconds of a worker process and its pool's child processes (prefork;
    a child that exits during a run takes its CPU with it)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


@dataclass
class Benched:
    """One benchmarked symbol: its name, queue, keys and its settled grid's quiet band."""

    symbol: str
    keys: Any  # SymbolKeys
    band: dict[str, str] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return self.symbol.lower()


@dataclass
class Rater:
    """Times the tasks on the symbols' queues, emptied by the worker while a ticker moves every
    symbol's tick every millisecond, always inside its grid's quiet band (levels every 0.5
    around 100: 100.0 .. 100.2 changes no order). The queues are filled while the worker is
    detached from them, then timed as they empty (sending excluded); tasks go to the symbols in
    turn."""

    r: Any
    app: Any
    worker: str
    pid: int  # the worker process's, for its CPU time
    symbols: list[Benched]
    whole: list[tuple[int, int]] = field(default_factory=list)  # (whole steps, tasks) a run
    cpu_ms: float = 0.0  # the last run's worker CPU per task (all its threads, user + system)

    @property
    def steps_done(self) -> int:
        """The symbols' whole steps so far (their step duration histograms' counts)."""
        return sum(int(self.r.hget(b.keys.metrics, "step_ms_count") or 0) for b in self.symbols)

    def queued(self) -> int:
        return sum(self.r.llen(b.queue) for b in self.symbols)

    def rate(self, task: str, count: int, keep_band: bool = True, trips: int = 0) -> float:
        """Return tasks/s; keep_band False makes every price task run the whole step: the
        symbol's inbox counter is one ahead of its cursor while the run lasts (take.lua answers
        "quiet" only to a symbol with nothing left to read; its inbox holds no entry, so the
        step reads none) and the band goes with every tick. trips: a ping's Redis round trips.
        """
        r, app = self.r, self.app
        if not keep_band:
            for b in self.symbols:
                r.incr(b.keys.seq)
            done = self.steps_done
        ticker = threading.Thread(target=self._ticks, args=(keep_band,), daemon=True)
        for b in self.symbols:
            app.control.cancel_consumer(b.queue, destination=[self.worker], reply=True)
        for i in range(count):
            b = self.symbols[i % len(self.symbols)]
            task_args = [b.symbol, 0.0, trips] if trips else [b.symbol]
            app.send_task(task, args=task_args, queue=b.queue, ignore_result=True)
        try:
            ticker.start()
            cpu0 = tree_cpu(self.pid)
            t0 = time.monotonic()
            for b in self.symbols:
                app.control.add_consumer(b.queue, destination=[self.worker], reply=True)
            # Queues empty = all taken; at most the prefetched tasks are still running.
            taken = count / (wait_for(lambda: self.queued() == 0) - t0)
            ticker.join()
            time.sleep(0.2)  # the last tasks end
            self.cpu_ms = (tree_cpu(self.pid) - cpu0) * 1000 / count
            if not keep_band:
                self.whole.append((self.steps_done - done, count))
        finally:  # the symbols as they were, whatever stopped the run
            for b in self.symbols:
                if not keep_band:
                    r.decr(b.keys.seq)
                r.hset(b.keys.band, mapping=b.band)
        return taken

    def _ticks(self, keep_band: bool) -> None:
        i = 0
        while self.queued():
            price = Decimal("100") + Decimal(i % 3) / 10
            pipe = self.r.pipeline(transaction=False)
            stamp = str(int(time.time() * 1000))
            for b in self.symbols:
                tick = {"price": str(price), "ts_event_ms": stamp, "seq": i}
                pipe.hset(b.keys.tick, mapping=tick)
                if not keep_band:
                    pipe.delete(b.keys.band)
            pipe.execute()
            i += 1
            time.sleep(0.001)


def run_rounds(rater: Rater, count: int, rounds: int) -> dict[str, list[float]]:
    """Return the rates of each phase, by round: the no-op (`ping`, Celery's own floor) first
    and after every round; in each round the price task with the tick in the band (the task
    sees in its one round trip, take.lua, that the price changes nothing and runs no step),
    the whole price step (the band removed: lock, load, decide, commit on a price that changes
    no order), and a no-op making the step's two Redis round trips. Each round's ratio is to
    the no-op runs on either side of it, so a change in the shared machine's load between
    phases moves a round, not the whole result."""
    rates: dict[str, list[float]] = {"noop": [rater.rate("mmtasks.symbol.ping", count)]}
    rates["noop_cpu"] = [rater.cpu_ms]
    for _ in range(rounds):
        for name, task, keep, trips in (
            ("quiet", "mmtasks.symbol.on_price", True, 0),
            ("step", "mmtasks.symbol.on_price", False, 0),
            ("floor", "mmtasks.symbol.ping", True, 2),
            ("noop", "mmtasks.symbol.ping", True, 0),
        ):
            rates.setdefault(name, []).append(rater.rate(task, count, keep, trips))
            rates.setdefault(f"{name}_cpu", []).append(rater.cpu_ms)
    return rates


def drain_rate(r: Any, app: Any, k: Any, n: int) -> float:
    """Return events/s of a burst of n order events drained from the inbox by one wake."""
    from mmtasks.enqueue import wake
    from mmtasks.messages import OrderEvent
    from mmtasks.state.store import SymbolStore

    target = int(r.get(k.seq) or 0) + n
    store = SymbolStore(r, SYMBOL)
    for i in range(n):
        event = OrderEvent(
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
        store.append(event.model_dump(mode="json"))
    appended = time.monotonic()
    wake(app, SYMBOL)
    wait_for(lambda: int(r.hget(k.state, "last_seq") or 0) >= target)
    return n / (time.monotonic() - appended)


def tick_to_order(r: Any, app: Any, exchange: Any, samples: int) -> list[float]:
    """Return tick-to-order latencies (ms): each tick moves the grid so one order is placed."""
    from tests.kit.feed import publish_tick

    latencies = []
    prices = [Decimal("100"), Decimal("100.5")]
    for i in range(samples):
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
    return latencies


def report(
    layout: str,
    rates: dict[str, list[float]],
    whole: list[tuple[int, int]],
    drain: float,
    latencies: list[float],
    rss: float,
    pss: float,
) -> None:
    noops = rates["noop"]
    around = [(a + b) / 2 for a, b in itertools.pairwise(noops)]
    noop = statistics.median(noops)

    def line(name: str) -> str:
        ratios = [x / n for x, n in zip(rates[name], around, strict=True)]
        return (
            f"{statistics.median(rates[name]):8.0f}/s (ratio to no-op median "
            f"{statistics.median(ratios):.2f}, rounds "
            + " ".join(f"{x:.2f}" for x in ratios)
            + f"; worker CPU {statistics.median(rates[name + '_cpu']):.2f} ms a task"
        )

    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0.0] * 99
    print(f"worker benchmark ({layout}, {os.cpu_count()} cores; hot modules {native.summary()})")
    runs = " ".join(f"{n:.0f}" for n in noops)
    print(
        f"  no-op Celery task (ping):      {noop:8.0f}/s (median of {len(noops)} runs: {runs}; "
        f"worker CPU {statistics.median(rates['noop_cpu']):.2f} ms a task)"
    )
    print(f"  price task, tick in the band:  {line('quiet')}; no step: one round trip)")
    print(f"  price step, no order changed:  {line('step')}; the whole step)")
    steps, tasks = sum(w for w, _ in whole), sum(n for _, n in whole)
    print(f"    (whole steps recorded: {steps} for {tasks} tasks)")
    print(f"  no-op + 2 Redis round trips:   {line('floor')}; a step's round trips alone)")
    print(
        f"  inbox burst drained by 1 wake: {drain:8.0f}/s (ratio to no-op {drain / noop:.2f}; "
        "order updates for ids the grid does not hold: the drain path, not fill accounting)"
    )
    print(
        f"  tick-to-order latency:         p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms "
        f"({len(latencies)} samples)"
    )
    print(f"  worker RSS / PSS:              {rss:.0f} / {pss:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks/events per throughput run")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of quiet and step runs between no-op runs"
    )
    parser.add_argument(
        "--symbols",
        type=int,
        default=1,
        help="symbols in the one worker process (1: one thread, a symbol's serial step rate; "
        f"more: the production layout's {THREADS} threads over their queues, the process's rate)",
    )
    parser.add_argument(
        "--pool",
        choices=("threads", "prefork"),
        default="threads",
        help="the worker's pool (default threads, the production layout; prefork: child "
        "processes run the tasks beside the consumer, at their memory's cost)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help=f"the pool's size (default: 1 with one symbol, else {THREADS}; prefork 2)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.n < 2 or not 1 <= args.symbols <= 64:
        parser.error("--rounds must be at least 1, --n at least 2, --symbols 1 to 64")

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url = services.redis_url.rsplit("/", 1)[0] + "/14"
    os.environ.update(
        REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, DATABASE_URL=services.database_url
    )
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    migrate(services.database_url)

    from mmtasks.celery import app, use_services
    from mmtasks.registry.symbol_commands import init_symbol
    from mmtasks.settings import settings_for
    from mmtasks.state.keys import keys_for
    from tests.kit.env import fleet_env
    from tests.kit.feed import publish_tick
    from tests.kit.procs import Worker, connector

    use_services(app, settings_for(redis_url, services.database_url))
    k = keys_for(SYMBOL)
    names = [SYMBOL] + [f"BENCH{i}USDT" for i in range(1, args.symbols)]
    benched = [Benched(name, keys_for(name)) for name in names]
    with connector("--feed", "none", "--symbols", ",".join(names)) as addr:
        os.environ["CONNECTOR_ADDR"] = addr
        from mmtasks.connector.client import ExchangeClient
        from mmtasks.connector.sim_client import SimControlClient

        exchange, sim = ExchangeClient(addr), SimControlClient(addr)
        # The production layout (mmtasks/assign.py): a pool of threads over the process's
        # queues. With one symbol, one thread: more would only coalesce its tasks, and this
        # measures what one full step costs when nothing else runs beside it.
        threads = 1 if args.symbols == 1 else THREADS
        if args.pool == "prefork":
            threads = 2
        threads = args.concurrency or threads
        env = fleet_env(redis_url, services.database_url, addr)
        queues = [b.queue for b in benched]
        worker = Worker(queues, env, name="bench", pool=args.pool, concurrency=threads)
        layout = f"{args.symbols} symbol(s) in 1 worker process, {args.pool} -c {threads}"
        try:
            for b in benched:
                init_symbol(r, app, exchange, b.symbol, GRID)
                tick = sim.inject_price(b.symbol, "100")
                publish_tick(r, app, b.symbol, Decimal("100"), tick.ts_event_ms, tick.seq)
            for b in benched:
                wait_for(lambda b=b: len(exchange.open_orders(b.symbol)) >= 10)
                # the acks' step settles the grid
                wait_for(lambda b=b: r.exists(b.keys.band), timeout_s=30)
                b.band = r.hgetall(b.keys.band)
            rater = Rater(r, app, worker.name, worker.proc.pid, benched)
            rates = run_rounds(rater, args.n // 2, args.rounds)
            drain_events = drain_rate(r, app, k, args.n)
            latencies = tick_to_order(r, app, exchange, args.latency_samples)
            rss, pss = memory_of([worker.proc.pid])
        finally:
            worker.stop()
        report(layout, rates, rater.whole, drain_events, latencies, rss, pss)


if __name__ == "__main__":
    main()
