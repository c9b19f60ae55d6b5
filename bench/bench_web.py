"""Benchmark the web process with 50 symbols: `/status` latency p50/p99 and the process's CPU.

Writes 50 symbols' state (registry rows, Redis hashes, ledger fills: tests/web/synthetic.py)
into a private Redis database and Postgres schema, starts `python -m mmtasks.web`, then:
  * `/status`, `/api/fleet` and `/metrics`: sequential requests, latency p50/p99, and the web
    process's CPU time per request (user + system, from /proc);
  * dashboard load: CPU % of the web process while dashboard clients hold `/ws` open
    (price ticks every 0.5 s, fleet status every 2 s).
Usage: python bench/bench_web.py [--symbols 50] [--requests 300] [--clients 3] [--idle-s 10]
Needs Redis and Postgres (REDIS_URL / DATABASE_URL or the local defaults).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from bench_bridge import reserve_redis_db  # noqa: E402

from mmtasks.embedded import resolve_services  # noqa: E402
from mmtasks.registry.migrate import migrate  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds pid has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(client: httpx.Client, pid: int, path: str, n: int) -> str:
    """Return a figure line for n sequential GETs of path."""
    for _ in range(5):
        client.get(path).raise_for_status()
    latencies = []
    cpu_before = cpu_s(pid)
    for _ in range(n):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    cpu_ms = (cpu_s(pid) - cpu_before) * 1000 / n
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"{path:<12} p50 {cuts[49]:7.1f} ms  p99 {cuts[98]:7.1f} ms  "
        f"web CPU {cpu_ms:6.1f} ms/request  ({n} requests)"
    )


def dashboard_load(url: str, pid: int, clients: int, seconds: float) -> str:
    """Return the web process's CPU % while clients hold the live feed open."""
    from websockets.sync.client import connect

    stop = threading.Event()
    received = [0] * clients

    def client(i: int) -> None:
        with connect(url.replace("http", "ws") + "/ws", open_timeout=10) as ws:
            ws.send('{"type": "subscribe", "symbol": "BTCUSDT"}')
            while not stop.is_set():
                try:
                    ws.recv(timeout=0.5)
                    received[i] += 1
                except TimeoutError:
                    continue

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)  # connected, snapshot sent
    before, started = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    percent = (cpu_s(pid) - before) / (time.monotonic() - started) * 100
    stop.set()
    for t in threads:
        t.join(5)
    return (
        f"dashboard    web CPU {percent:5.1f} % with {clients} live /ws clients "
        f"({sum(received)} messages in {seconds + 2:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=10)
    args = parser.parse_args()

    from tests.conftest import with_search_path
    from tests.web.conftest import WebProc
    from tests.web.synthetic import populate

    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url, admin, lock = reserve_redis_db(services.redis_url)
    schema = f"bench_web_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    pg_url = with_search_path(services.database_url, schema)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    web = None
    try:
        r.flushdb()
        migrate(pg_url)
        populate(r, pg_url, args.symbols)
        env = {
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "DATABASE_URL": pg_url,
            "CONNECTOR_ADDR": "127.0.0.1:1",
            "LOG_LEVEL": "WARNING",
        }
        web = WebProc(env)
        pid = web.proc.pid
        print(f"web process with {args.symbols} symbols (Redis {redis_url}, schema {schema})")
        idle_before, idle_started = cpu_s(pid), time.monotonic()
        time.sleep(5)
        idle = (cpu_s(pid) - idle_before) / (time.monotonic() - idle_started) * 100
        print(f"idle         web CPU {idle:5.1f} % (no client; workers asked every 5 s)")
        with httpx.Client(base_url=web.url, timeout=30) as client:
            for path in ("/status", "/api/fleet", "/metrics"):
                print(measure(client, pid, path, args.requests), flush=True)
        print(dashboard_load(web.url, pid, args.clients, args.idle_s), flush=True)
    finally:
        if web is not None:
            web.stop()
        r.flushdb()
        r.close()
        admin.delete(lock)
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
