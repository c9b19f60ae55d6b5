"""Benchmark the connector process: orders/s over gRPC and stream messages/s at the client.

    python bench/bench_connector.py [--seconds 5] [--clients 4] [--procs 2]

Starts `python -m mmtasks.connector --sim` on an ephemeral port per phase and drives it with
`--clients` concurrent clients spread over `--procs` processes (threads for the sync client,
tasks for grpc.aio). On a small machine fewer client processes leave more CPU to the server
(every process competes for the same cores); `--procs 4` gives one process per client. Prints
figures, asserts nothing.

Phases:
  unary   PlaceOrder, one resting limit order per call, sync ExchangeClient (as Celery workers)
  batch   BatchPlaceOrders of --batch-size orders per call, sync ExchangeClient
  stream  SubscribePrice over grpc.aio (as the bridge), fast random feed, messages counted
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
CONNECTOR = [sys.executable, "-m", "mmtasks.connector", "--sim", "--port", "0"]
WARMUP_S = 2.0  # every client imported and connected before the clock starts


def start_connector(args: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start a connector on an ephemeral port; return (process, address)."""
    port_file = Path(tempfile.mkdtemp(prefix="bench-connector-")) / "port"
    proc = subprocess.Popen(
        [*CONNECTOR, "--port-file", str(port_file), "--log-level", "WARNING", *args],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("connector did not start")
        time.sleep(0.02)
    return proc, f"127.0.0.1:{int(port_file.read_text())}"


def stop_connector(proc: subprocess.Popen[bytes]) -> None:
    """Stop the connector (SIGTERM, then kill after 5 s)."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of a process (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_share(pid: int, start_at: float, seconds: float, out: list[float]) -> None:
    """Append the server's CPU use during the measured window, as a share of one core."""
    time.sleep(max(0.0, start_at - time.time()))
    before = cpu_seconds(pid)
    time.sleep(seconds)
    out.append((cpu_seconds(pid) - before) / seconds)


def wait_until(start_at: float) -> None:
    """Sleep until the common start time."""
    time.sleep(max(0.0, start_at - time.time()))


def in_threads(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(i) on `count` threads and return the results in order."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# -- client processes --------------------------------------------------------------------------


def unary_clients(
    addr: str, proc_index: int, clients: int, seconds: float, start_at: float
) -> list[float]:
    """Run sync clients placing one resting order per call; return every call's latency."""
    from mmtasks.connector.client import ExchangeClient

    def client_loop(i: int) -> list[float]:
        latencies: list[float] = []
        with ExchangeClient(addr) as client:
            client.wait_ready(10)
            wait_until(start_at)
            end = time.perf_counter() + seconds
            n = 0
            while (now := time.perf_counter()) < end:
                n += 1
                price = f"{20000 - (n % 5000) * 0.5:.2f}"  # below the market: the order rests
                client.place_order("BTCUSDT", "BUY", price, "0.001", f"u{proc_index}t{i}x{n}")
                latencies.append(time.perf_counter() - now)
        return latencies

    return [x for xs in in_threads(clients, client_loop) for x in xs]


def batch_clients(
    addr: str, proc_index: int, clients: int, seconds: float, start_at: float, size: int
) -> int:
    """Run sync clients placing resting orders in batches; return the count placed."""
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.venue import OrderRequest

    def client_loop(i: int) -> int:
        placed = batch = 0
        with ExchangeClient(addr) as client:
            client.wait_ready(10)
            wait_until(start_at)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                batch += 1
                orders = [
                    OrderRequest(
                        "ETHUSDT",
                        "BUY",  # type: ignore[arg-type]  # OrderRequest parses names and strings
                        price=f"{1500 - k * 0.01:.2f}",  # type: ignore[arg-type]
                        quantity="0.01",  # type: ignore[arg-type]
                        client_order_id=f"b{proc_index}t{i}y{batch}x{k}",
                    )
                    for k in range(size)
                ]
                placed += sum(r.order is not None for r in client.batch_place(orders))
        return placed

    return sum(in_threads(clients, client_loop))


def stream_clients(
    addr: str, proc_index: int, streams: int, seconds: float, start_at: float
) -> list[tuple[int, int]]:
    """Count the price messages each of `streams` aio streams receives in the window.

    Return (received, published) per stream: published comes from the per-symbol seq, so
    received < published means the server dropped ticks for a reader that fell behind.
    """
    import grpc

    from mmtasks.pb.mm.v1 import exchange_pb2 as pb
    from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc

    async def one(stub: pb_grpc.ExchangeServiceStub) -> tuple[int, int]:
        call = stub.SubscribePrice(pb.SubscribePriceRequest())
        count = 0
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        end = start_at + seconds
        async for tick in call:
            now = time.time()
            if now < start_at:
                continue
            if now >= end:
                break
            count += 1
            if tick.symbol not in first:
                first[tick.symbol] = tick.seq - 1
            last[tick.symbol] = tick.seq
        call.cancel()
        return count, sum(last[s] - first[s] for s in last)

    async def run() -> list[tuple[int, int]]:
        # One channel per stream, as separate bridge processes would have.
        channels = [grpc.aio.insecure_channel(addr) for _ in range(streams)]
        try:
            stubs = [pb_grpc.ExchangeServiceStub(c) for c in channels]
            return list(await asyncio.gather(*(one(s) for s in stubs)))
        finally:
            for channel in channels:
                await channel.close()

    return asyncio.run(run())


# -- phases ------------------------------------------------------------------------------------


def spread(opts: argparse.Namespace) -> list[int]:
    """Return how many clients each client process runs."""
    procs = max(1, min(opts.procs, opts.clients))
    return [opts.clients // procs + (i < opts.clients % procs) for i in range(procs)]


def run_phase(
    server_pid: int, target: Callable[..., Any], args: list[tuple[Any, ...]], seconds: float
) -> tuple[list[Any], float]:
    """Run target(*a) in one spawned process per a; return the results and server CPU share."""
    start_at = args[0][3]
    cpu: list[float] = []
    sampler = threading.Thread(target=server_cpu_share, args=(server_pid, start_at, seconds, cpu))
    sampler.start()
    with mp.get_context("spawn").Pool(len(args)) as pool:
        results = pool.starmap(target, args)
    sampler.join()
    return results, cpu[0]


def phase_orders(opts: argparse.Namespace) -> None:
    """Measure unary and batch order placement."""
    shares = spread(opts)
    where = f"{opts.clients} clients in {len(shares)} processes"
    proc, addr = start_connector(["--feed", "none", "--symbols", "BTCUSDT,ETHUSDT"])
    try:
        start_at = time.time() + WARMUP_S
        args = [(addr, i, n, opts.seconds, start_at) for i, n in enumerate(shares)]
        results, cpu = run_phase(proc.pid, unary_clients, args, opts.seconds)
        latencies = sorted(x for xs in results for x in xs)
        p50 = statistics.median(latencies) * 1000 if latencies else 0.0
        p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
        print(
            f"unary PlaceOrder:      {len(latencies) / opts.seconds:9.0f} orders/s    "
            f"({where}; p50 {p50:.2f} ms, p99 {p99:.2f} ms; server {cpu:.0%} of a core)"
        )
        start_at = time.time() + WARMUP_S
        args = [(addr, i, n, opts.seconds, start_at, opts.batch_size) for i, n in enumerate(shares)]
        placed, cpu = run_phase(proc.pid, batch_clients, args, opts.seconds)
        print(
            f"BatchPlaceOrders:      {sum(placed) / opts.seconds:9.0f} orders/s    "
            f"({where}; {opts.batch_size} orders per call; server {cpu:.0%} of a core)"
        )
    finally:
        stop_connector(proc)


def phase_stream(opts: argparse.Namespace) -> None:
    """Measure price-stream messages delivered to clients with a fast feed."""
    shares = spread(opts)
    symbols = ",".join(f"SYM{i}USDT" for i in range(opts.stream_symbols))
    proc, addr = start_connector(
        ["--feed", "random", "--tick-ms", str(opts.tick_ms), "--symbols", symbols]
    )
    try:
        start_at = time.time() + WARMUP_S
        args = [(addr, i, n, opts.seconds, start_at) for i, n in enumerate(shares)]
        per_proc, cpu = run_phase(proc.pid, stream_clients, args, opts.seconds)
    finally:
        stop_connector(proc)
    results = [r for rs in per_proc for r in rs]
    received = sum(r for r, _ in results)
    published = sum(p for _, p in results)
    rates = [r / opts.seconds for r, _ in results]
    print(
        f"SubscribePrice stream: {received / opts.seconds:9.0f} messages/s  "
        f"({opts.clients} aio streams in {len(shares)} processes, every tick of "
        f"{opts.stream_symbols} symbols every {opts.tick_ms} ms; {min(rates):.0f}..{max(rates):.0f}"
        f" per stream; {received / max(published, 1):.0%} of the ticks published in the window; "
        f"server {cpu:.0%} of a core)"
    )


def main() -> None:
    """Run the benchmark phases and print their figures."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients per phase")
    parser.add_argument("--procs", type=int, default=2, help="client processes sharing them")
    parser.add_argument("--batch-size", type=int, default=100, help="orders per BatchPlaceOrders")
    parser.add_argument("--stream-symbols", type=int, default=8, help="symbols on the fast feed")
    parser.add_argument("--tick-ms", type=int, default=1, help="feed round interval for streams")
    parser.add_argument("--skip", choices=["orders", "stream"], action="append", default=[])
    opts = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"connector benchmark: {opts.seconds:g} s per phase, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start, Python {sys.version.split()[0]}"
    )
    if "orders" not in opts.skip:
        phase_orders(opts)
    if "stream" not in opts.skip:
        phase_stream(opts)


if __name__ == "__main__":
    main()
