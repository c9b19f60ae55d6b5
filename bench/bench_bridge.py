"""Benchmark the bridge: ingest messages/s, and tick-to-order latency through the whole path.

    python bench/bench_bridge.py [--symbols 2,8,32] [--prices 100000] [--orders 10000]
                                 [--batch 64] [--samples 60] [--skip-latency] [--skip-ingest]

Ingest (per symbol count): a fake connector (a real gRPC server in a child process, messages
built up front so it costs as little as possible) streams --prices ticks round-robin over the
symbols and --orders order updates, as fast as gRPC takes them, to a real `python -m bridge`.
The bridge reads prices from SubscribePriceBatches, which the fake serves --batch ticks per
message (the real connector sends whatever is ready, up to 512; the smaller the batches, the
closer to the unbatched per-message cost).
Measured from the first message sent to the moment Redis holds the last tick of every symbol
and every order event in the inboxes: that is messages validated, written and woken for.
In the same run a bare grpc.aio client reads the same streams and drops them, once with
unbatched prices (SubscribePrice) and once batched: the ceilings a Python gRPC client reaches on
this machine; the bridge's figure is also given as a ratio to the batched one.
The bridge's CPU per message is printed too (less noisy than wall time on a shared machine).

Tick-to-order latency (per symbol count): the simulated connector with a random-walk feed
(every symbol ticks every 200 ms: background load), the bridge, and symbol workers
(--layout assign, the default: as `make run` starts them, ceil(N / 32) processes of 8 threads
each, mmtasks/assign.py; --layout prefork: min(N, 8) one-task processes, as before). The
workers' RSS and PSS (their pool children included) are printed beside the latency.
Probes start once every grid is up and settled (its quiet band stored: steady state, start-up
excluded, as bench_run.py measures it); one symbol at a time gets an injected price two grid
intervals away
(SimControl.InjectPrice), so its worker must place new orders. Latency = created_ms of the
first order of that symbol created at or after the tick, minus the tick's ts_event_ms; both
stamps come from the connector's clock, so this is connector -> bridge -> Redis/Celery ->
worker step -> PlaceOrder -> connector.
Prints figures, asserts nothing. Needs Redis and Postgres (REDIS_URL / DATABASE_URL, the local
defaults, or embedded ones).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import grpc  # noqa: E402
import redis  # noqa: E402

from mmtasks.assign import THREADS, buckets_for, queues_of  # noqa: E402
from mmtasks.pb.mm.v1 import exchange_pb2 as pb  # noqa: E402

GRID_INTERVAL = Decimal("0.5")
GRID = {
    "mode": "neutral",
    "interval": str(GRID_INTERVAL),
    "buy_levels": 3,
    "sell_levels": 3,
    "order_qty": "1",
    "post_only": False,
}


def symbols_for(n: int) -> list[str]:
    return [f"BR{i:02d}USDT" for i in range(n)]


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reserve_redis_db(base_url: str) -> tuple[str, redis.Redis, str]:
    """Take a free Redis database index (as the tests do); return (url, admin, lock key)."""
    admin = redis.Redis.from_url(base_url.rsplit("/", 1)[0] + "/0")
    for index in range(15, 0, -1):
        key = f"mmtasks:test-db-lock:{index}"
        if admin.set(key, f"bench-{os.getpid()}", nx=True, ex=3600):
            url = base_url.rsplit("/", 1)[0] + f"/{index}"
            redis.Redis.from_url(url).flushdb()
            return url, admin, key
    raise SystemExit("no free Redis database (1..15 all reserved)")


# -- the fake connector (runs in a child process) ------------------------------------------
def serve_fake(port_file: str, n_symbols: int, n_prices: int, n_orders: int, batch: int) -> None:
    """Serve SubscribePrice(Batches)/Orders/Klines; every subscription trio gets the whole set."""
    symbols = symbols_for(n_symbols)
    now = int(time.time() * 1000)
    ticks = [
        pb.PriceTick(
            symbol=symbols[i % n_symbols], price=f"{100 + i % 50 / 10}", ts_event_ms=now, seq=i + 1
        )
        for i in range(n_prices)
    ]
    prices = [t.SerializeToString() for t in ticks]
    price_batches = [
        pb.PriceTicks(ticks=ticks[i : i + batch]).SerializeToString()
        for i in range(0, n_prices, batch)
    ]
    orders = []
    for i in range(n_orders):
        order = pb.Order(
            symbol=symbols[i % n_symbols],
            order_id=f"o{i}",
            client_order_id=f"c{i}",
            side=pb.SIDE_BUY,
            type=pb.ORDER_TYPE_LIMIT,
            time_in_force=pb.TIME_IN_FORCE_GTC,
            price="100",
            quantity="1",
            executed_qty="0",
            avg_price="0",
            status=pb.ORDER_STATUS_NEW,
            created_ms=now,
            updated_ms=now,
        )
        orders.append(pb.OrderUpdate(order=order, ts_event_ms=now, seq=i + 1).SerializeToString())
    together = threading.Barrier(3)  # all three streams open, then go (reusable per round)
    say = threading.Lock()  # one whole line per stream start

    def stream(messages: list[bytes] | None) -> Any:
        def handler(request: Any, context: Any) -> Any:
            context.send_initial_metadata(())
            together.wait()
            if messages is not None:
                with say:
                    print(f"start {time.time()}", flush=True)
                yield from messages
            while context.is_active():  # hold the stream open: no reconnect, no resend
                time.sleep(0.05)

        return handler

    def method(messages: list[bytes] | None, request_type: Any) -> Any:
        return grpc.unary_stream_rpc_method_handler(
            stream(messages), request_deserializer=request_type.FromString
        )

    handler = grpc.method_handlers_generic_handler(
        "mm.v1.ExchangeService",
        {
            "SubscribePrice": method(prices, pb.SubscribePriceRequest),
            "SubscribePriceBatches": method(price_batches, pb.SubscribePriceRequest),
            "SubscribeOrders": method(orders, pb.SubscribeOrdersRequest),
            "SubscribeKlines": method(None, pb.SubscribeKlinesRequest),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    Path(port_file).write_text(str(port))
    server.wait_for_termination()


class FakeConnector:
    """The fake connector child process."""

    def __init__(self, tmp: Path, n_symbols: int, n_prices: int, n_orders: int, batch: int) -> None:
        port_file = tmp / f"fake-{n_symbols}.port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-fake",
                str(port_file),
                str(n_symbols),
                str(n_prices),
                str(n_orders),
                str(batch),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("fake connector did not start")
            time.sleep(0.05)
        self.addr = f"127.0.0.1:{port_file.read_text()}"

    def started_at(self) -> float:
        """Return when this round's streams began sending (the earlier of the two)."""
        assert self.proc.stdout is not None
        stamps = [float(self.proc.stdout.readline().split()[1]) for _ in range(2)]
        return min(stamps)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def raw_read(addr: str, n_prices: int, n_orders: int, batched: bool) -> None:
    """Read the fake's streams with a bare grpc.aio client and drop every message."""
    from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

    async def drain(call: Any, count: int) -> None:
        seen = 0
        async for _ in call:
            seen += 1
            if seen == count:
                return

    async def drain_batches(call: Any, count: int) -> None:
        seen = 0
        async for msg in call:
            seen += len(msg.ticks)
            if seen == count:
                return

    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.ExchangeServiceStub(channel)
        request = pb.SubscribePriceRequest()
        if batched:
            prices = stub.SubscribePriceBatches(request)
            read_prices = drain_batches(prices, n_prices)
        else:
            prices = stub.SubscribePrice(request)
            read_prices = drain(prices, n_prices)
        orders = stub.SubscribeOrders(pb.SubscribeOrdersRequest())
        klines = stub.SubscribeKlines(pb.SubscribeKlinesRequest())
        await asyncio.gather(read_prices, drain(orders, n_orders))
        for call in (prices, orders, klines):
            call.cancel()


def ingest(n: int, args: argparse.Namespace, redis_url: str, tmp: Path) -> None:
    """Print the bridge's ingest rate for n symbols next to the bare-client ceiling."""
    from mmtasks.state.keys import keys_for

    total = args.prices + args.orders
    fake = FakeConnector(tmp, n, args.prices, args.orders, args.batch)
    try:
        raw_rates = {}
        for batched in (False, True):
            reader = threading.Thread(
                target=lambda b=batched: asyncio.run(
                    raw_read(fake.addr, args.prices, args.orders, b)
                )
            )
            reader.start()
            start = fake.started_at()
            reader.join()
            raw_rates[batched] = total / (time.time() - start)
        raw_rate = raw_rates[True]

        client = redis.Redis.from_url(redis_url, decode_responses=True)
        client.flushdb()
        symbols = symbols_for(n)
        # Tick i (seq i + 1) goes to symbol i % n: each symbol's newest is its last such i.
        last_seq = {s: str(args.prices - (args.prices - 1 - j) % n) for j, s in enumerate(symbols)}
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CONNECTOR_ADDR": fake.addr,
            "LOG_LEVEL": "WARNING",
        }
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--symbols", ",".join(symbols)], env=env, cwd=ROOT
        )
        try:
            start = fake.started_at()
            cpu0 = cpu_seconds(bridge.pid)

            def done() -> bool:
                pipe = client.pipeline(transaction=False)
                for s in symbols:
                    pipe.hget(keys_for(s).tick, "seq")
                    pipe.get(keys_for(s).seq)
                got = pipe.execute()
                ticks_in = all(got[2 * i] == last_seq[s] for i, s in enumerate(symbols))
                return ticks_in and sum(int(x or 0) for x in got[1::2]) >= args.orders

            deadline = time.monotonic() + 300
            while not done():
                if time.monotonic() > deadline:
                    raise SystemExit("bridge did not finish the ingest run")
                time.sleep(0.005)
            elapsed = time.time() - start
            cpu = cpu_seconds(bridge.pid) - cpu0
        finally:
            bridge.terminate()
            bridge.wait(15)
    finally:
        fake.stop()
    rate = total / elapsed
    print(
        f"  {n:>2} symbols: bridge {rate:8.0f} msgs/s ({elapsed:.1f}s for {total} msgs; "
        f"{cpu / total * 1e6:.0f} us CPU/msg)   bare grpc.aio read: unbatched "
        f"{raw_rates[False]:8.0f}, batched {raw_rate:8.0f} msgs/s   ratio {rate / raw_rate:.2f}"
    )


# -- tick-to-order latency -----------------------------------------------------------------
class NewOrders:
    """Watch the connector's order stream; keep created_ms of NEW orders per symbol."""

    def __init__(self, addr: str) -> None:
        from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

        self.channel = grpc.insecure_channel(addr)
        self.call = pb_grpc.ExchangeServiceStub(self.channel).SubscribeOrders(
            pb.SubscribeOrdersRequest()
        )
        self.created: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for update in self.call:
                if update.order.status == pb.ORDER_STATUS_NEW:
                    with self.lock:
                        self.created.setdefault(update.order.symbol, []).append(
                            update.order.created_ms
                        )
        except grpc.RpcError:
            return

    def first_after(self, symbol: str, ts_ms: int) -> int | None:
        with self.lock:
            later = [c for c in self.created.get(symbol, []) if c >= ts_ms]
        return min(later) if later else None

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def probe(
    client: redis.Redis,
    exchange: Any,
    control: Any,
    watch: NewOrders,
    symbols: list[str],
    samples: int,
) -> list[float]:
    """Start every grid, then move one symbol at a time two intervals; return tick -> order ms.

    control: what moves the exchange's price (`inject_price`): the sim's SimControl, or the
    Binance simulator's control.
    """
    from mmtasks.celery import app
    from mmtasks.registry.symbol_commands import init_symbol
    from mmtasks.state.keys import keys_for

    for symbol in symbols:
        init_symbol(client, app, exchange, symbol, GRID)
    started = time.monotonic()
    deadline = started + 180
    while any(len(exchange.open_orders(s)) < 6 for s in symbols):  # every grid is up
        if time.monotonic() > deadline:
            raise SystemExit("workers did not place their grids")
        time.sleep(0.2)
    # Steady state, as bench_run.py measures it (start-up excluded): every grid has settled
    # once, its quiet band stored by the step that took its orders' acks (a later step that
    # moves orders removes it again, so each symbol counts once it was seen). Probing before
    # that measures the start-up burst (every symbol placing its grid at once): the first
    # probes then waited behind it, 45-300 ms, enough to make the p99 of 100 probes.
    waiting = {s: keys_for(s).band for s in symbols}
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"grids did not settle: {len(waiting)} never stored a quiet band")
        pipe = client.pipeline(transaction=False)
        for band in waiting.values():
            pipe.exists(band)
        for symbol, stored in zip(list(waiting), pipe.execute(), strict=True):
            if stored:
                del waiting[symbol]
        if waiting:
            time.sleep(0.2)
    print(
        f"  {len(symbols)} grids up and settled in {time.monotonic() - started:.1f} s", flush=True
    )
    got: list[float] = []
    for i in range(samples):
        symbol = symbols[i % len(symbols)]
        last = exchange.latest_price(symbol).price
        nth = i // len(symbols)  # this symbol's own probe count: up, up, down, down, ...
        jump = 2 * GRID_INTERVAL * (1 if nth % 4 < 2 else -1)
        tick = control.inject_price(symbol, last + jump)
        t_end = time.monotonic() + 5
        created = None
        while created is None and time.monotonic() < t_end:
            created = watch.first_after(symbol, tick.ts_event_ms)
            time.sleep(0.002)
        if created is not None:
            got.append(created - tick.ts_event_ms)
        time.sleep(0.05)
    return got


def print_latency(label: str, samples: list[float], tail: str) -> None:
    """Print label, the samples' tick-to-order p50 and p99, then tail (or: too few samples)."""
    if len(samples) < 3:
        print(f"  {label}: too few samples ({len(samples)})", flush=True)
        return
    q = statistics.quantiles(samples, n=100)
    print(f"  {label}: tick-to-order p50 {q[49]:6.1f} ms  p99 {q[98]:6.1f} ms  {tail}", flush=True)


@contextlib.contextmanager
def probe_fleet(
    addr: str, env: dict[str, str], symbols: list[str], control: Any = None
) -> Iterator[tuple[Any, Any, NewOrders]]:
    """Run the bridge on symbols; yield (venue client, price control, new-order watch).

    control: what moves the exchange's price; by default the connector's SimControl (closed after).
    """
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.connector.sim_client import SimControlClient
    from tests.kit.procs import stop

    bridge = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--symbols", ",".join(symbols)],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exchange = ExchangeClient(addr)
    sim = control if control is not None else SimControlClient(addr)
    watch = NewOrders(addr)
    try:
        yield exchange, sim, watch
    finally:
        watch.close()
        exchange.close()
        if control is None:
            sim.close()
        stop(bridge)


def latency(n: int, args: argparse.Namespace, redis_url: str, database_url: str) -> None:
    """Print tick-to-order p50/p99 for n symbols trading on a random walk."""
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for
    from tests.kit.env import fleet_env
    from tests.kit.procs import Worker, connector

    redis.Redis.from_url(redis_url).flushdb()
    use_services(app, settings_for(redis_url, database_url))
    symbols = symbols_for(n)
    client = redis.Redis.from_url(redis_url)
    with connector(
        "--feed",
        "random",
        "--tick-ms",
        "200",
        "--symbols",
        ",".join(symbols),
        "--log-level",
        "WARNING",
    ) as addr:
        env = fleet_env(redis_url, database_url, addr, LOG_LEVEL="WARNING")
        if args.layout == "assign":  # as `make run` starts them: mmtasks/assign.py
            n_workers = buckets_for(n)
            groups = [queues_of(symbols, b, n_workers) for b in range(n_workers)]
            workers = [Worker(g, env, name=f"bench{i}") for i, g in enumerate(groups)]
            layout = f"{n_workers} worker process(es) x {THREADS} threads, assign.py"
        else:  # the layout before: min(N, 8) prefork processes, one task at a time each
            n_workers = min(n, 8)
            groups = [[s.lower() for s in symbols[i::n_workers]] for i in range(n_workers)]
            workers = [
                Worker(g, env, name=f"bench{i}", pool="prefork") for i, g in enumerate(groups)
            ]
            layout = f"{n_workers} prefork worker processes, {-(-n // n_workers)} queue(s) each"
        try:
            with probe_fleet(addr, env, symbols) as (exchange, sim, watch):
                samples = probe(client, exchange, sim, watch, symbols, args.samples)
                rss, pss = memory_of([w.proc.pid for w in workers])
        finally:
            for worker in workers:
                worker.stop()
    print_latency(
        f"{n:>3} symbols",
        samples,
        f"workers RSS {rss:7.1f} MiB  PSS {pss:7.1f} MiB  "
        f"({len(samples)}/{args.samples} probes; {layout})",
    )


def memory_of(pids: list[int]) -> tuple[float, float]:
    """Return the RSS and PSS (MiB) of processes and their children (Linux smaps_rollup)."""
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo += [int(c) for c in children]
    rss = pss = 0
    for pid in seen:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
    return rss / 1024, pss / 1024


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-fake":
        serve_fake(sys.argv[2], *map(int, sys.argv[3:7]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", default="2,8,32", help="symbol counts (default 2,8,32)")
    parser.add_argument("--prices", type=int, default=100_000, help="ticks per ingest run")
    parser.add_argument("--orders", type=int, default=10_000, help="order updates per run")
    parser.add_argument(
        "--batch", type=int, default=64, help="ticks per SubscribePriceBatches message (64)"
    )
    parser.add_argument("--samples", type=int, default=60, help="latency probes per count")
    parser.add_argument(
        "--layout",
        choices=("assign", "prefork"),
        default="assign",
        help="symbol workers as `make run` starts them (assign: a few processes, each a pool "
        "of threads over its symbols) or as before (prefork: min(N, 8) one-task processes)",
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    counts = [int(x) for x in args.symbols.split(",")]

    from mmtasks.embedded import resolve_services
    from mmtasks.registry.migrate import migrate

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url, admin, lock = reserve_redis_db(services.redis_url)
    tmp = ROOT / ".data" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    print(
        f"bridge benchmark ({os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start)"
    )
    try:
        if not args.skip_ingest:
            print(
                f"ingest: {args.prices} ticks ({args.batch} per batch) + {args.orders} order "
                "updates, bar 20000 msgs/s"
            )
            for n in counts:
                ingest(n, args, redis_url, tmp)
        if not args.skip_latency:
            migrate(services.database_url)
            print("tick-to-order latency (connector tick ts_event_ms -> order created_ms)")
            for n in counts:
                latency(n, args, redis_url, services.database_url)
    finally:
        admin.delete(lock)


if __name__ == "__main__":
    main()
