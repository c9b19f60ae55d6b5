"""Start the fleet, watch it, follow the registry, stop it all on Ctrl-C, SIGTERM or --seconds."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import redis

from mmtasks.assign import SYMBOLS_PER_WORKER, THREADS, buckets_for
from mmtasks.run.children import (
    Child,
    Fleet,
    Workers,
    start_connector,
    start_fleet,
    start_web,
    web_port,
)
from mmtasks.run.defaults import (
    DATA_DIR,
    DEFAULT_CONFIG,
    DEFAULT_WEB_PORT,
    STATUS_EVERY_S,
    TABLE_ROWS,
)
from mmtasks.run.symbols import (
    catalogue,
    init_symbols,
    load_config,
    out_of_fleet,
    registry_symbols,
    seed_registry,
)
from mmtasks.run.table import fill_counts, render, show, status_rows
from mmtasks.settings import DEFAULT_SERVICES_FILE, Settings, get_settings, write_services_file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m mmtasks.run",
        description="Run the whole fleet on the simulated exchange (connector, bridge, worker "
        "processes holding many symbols each, control worker, beat) and print a status table. "
        "Uses REDIS_URL and DATABASE_URL when set, else embedded servers under .data/run. "
        "Ctrl-C stops it.",
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="symbols YAML (default %(default)s)"
    )
    parser.add_argument(
        "--symbols",
        default="",
        help="comma-separated subset of the config's symbols, or a number N: the config's "
        "first N, plus generated simulated ones (SOLUSDT, BNBUSDT, ...) beyond them "
        "(default: all of the config's)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help="embedded servers, logs and the beat schedule (default %(default)s)",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=None,
        help=f"dashboard port on 127.0.0.1 (default {DEFAULT_WEB_PORT}, or a free one when "
        f"{DEFAULT_WEB_PORT} is taken; 0 for any free port)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="also record every symbol's ticks and klines under <data-dir>/recordings, for "
        "`mmtasks replay --recording <data-dir>/recordings --symbol BTCUSDT --fill touch`",
    )
    parser.add_argument(
        "--tick-ms",
        type=int,
        default=200,
        help="random-walk feed period in ms (default %(default)s)",
    )
    parser.add_argument(
        "--symbols-per-worker",
        type=_positive,
        default=SYMBOLS_PER_WORKER,
        help="symbols one worker process holds (a pool of threads over their queues); the run "
        "starts ceil(symbols / this) worker processes (default %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=THREADS,
        help="threads per worker process: how many of its symbols step at once "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--venue",
        choices=("binanceusdm", "binance"),
        help="trade through the real-venue connector (ccxt) against the Binance-speaking "
        "simulator instead of the gRPC simulator: binanceusdm (perpetuals) or binance "
        "(spot: long grids only); the fleet-wide rate budget is on",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of at least 1, received {text!r}"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the fleet until Ctrl-C, SIGTERM or --seconds; return the exit code."""
    args = parse_args(argv)
    config = load_config(args.config, args.symbols)
    if args.venue:  # the registry says where each symbol trades
        config = {s: {**entry, "exchange": args.venue} for s, entry in config.items()}
    port = web_port(args.web_port)
    symbols = list(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    from mmtasks.embedded import resolve_services
    from mmtasks.registry.migrate import migrate

    data_dir: Path = args.data_dir
    services = resolve_services(data_dir, allow_local=False)
    settings = get_settings().with_services(
        REDIS_URL=services.redis_url,
        CELERY_BROKER_URL=services.redis_url,
        DATABASE_URL=services.database_url,
    )
    print(f"redis    {settings.redis_url} ({services.redis_source})")
    print(f"postgres {settings.database_url} ({services.database_source})")
    print(f"logs     {data_dir / 'logs'}", flush=True)
    migrate(settings.database_url)
    registered = seed_registry(settings.database_url, config)
    # The registry may hold more than this run's config (symbols added in an earlier run of the
    # same data folder): the fleet trades all of them.
    registry = registry_symbols(settings.database_url)
    symbols = sorted(set(symbols) | (registry[0] if registry else set()))
    fleet = Fleet({**os.environ, **settings.service_env()}, data_dir / "logs")
    buckets = buckets_for(len(symbols), args.symbols_per_worker)
    workers = Workers(fleet, settings, buckets, args.threads)
    print(
        f"workers  {buckets} process(es) of {args.threads} threads for {len(symbols)} symbols "
        f"(up to {args.symbols_per_worker} symbols each; mmtasks/assign.py)",
        flush=True,
    )
    services_file = data_dir / "services.json"
    code = 0
    try:
        # The simulated exchange lists the catalogue too, so `mmtasks add SOLUSDT ...` can trade.
        addr = start_connector(fleet, catalogue(symbols), args.tick_ms, data_dir, args.venue)
        settings = settings.with_services(CONNECTOR_ADDR=addr)
        fleet.env.update(settings.service_env())
        write_services_file(services_file, settings, os.getpid())
        start_fleet(fleet, workers, symbols, data_dir)
        if args.record:
            fleet.spawn(
                "recorder",
                sys.executable,
                "-m",
                "mmtasks.replay.record",
                "--symbols",
                ",".join(symbols),
                "--connector",
                addr,
                "--data-dir",
                str(data_dir),
            )
            print(f"recording {data_dir / 'recordings'}", flush=True)
        web_url, flower_url = start_web(fleet, port)
        init_symbols(settings, {s: config[s] for s in registered})
        urls = (
            f"dashboard {web_url}  (/status /metrics /health)   flower {flower_url}\n"
            f"{_urls_line(services_file)}"
        )
        code = watch(fleet, settings, workers, args.seconds, stop, urls)
    finally:
        print("stopping the fleet ...", flush=True)
        services_file.unlink(missing_ok=True)
        fleet.stop()
    print("stopped")
    return code


def _urls_line(services_file: Path) -> str:
    """Return the line that tells an operator how other commands find this fleet."""
    default = services_file.resolve() == DEFAULT_SERVICES_FILE.resolve()
    how = "" if default else f" (export MMTASKS_SERVICES_FILE={services_file})"
    return f"commands run from this folder use this fleet: see {services_file}{how}"


def _gave_up(dead: Child) -> str:
    why = (
        f"it exited {len(dead.exits)} times within a minute"
        if dead.restartable
        else "the others reach it at the address it picked: it is not started again"
    )
    return (
        f"{dead.name} exited with {dead.proc.returncode} ({why}): stopping the fleet; "
        f"see {dead.log_path}"
    )


def watch(
    fleet: Fleet,
    settings: Settings,
    workers: Workers,
    seconds: float,
    stop: threading.Event,
    urls: str = "",
) -> int:
    """Print the status table until stop is set or seconds pass; 1 if a child died.

    Each round also brings the workers in line with the registry (a symbol added or removed
    while the fleet runs); what changed is listed under the table.
    """
    from mmtasks.state.keys import BRIDGE_HEARTBEAT

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, decode_responses=True)
    started = time.monotonic()
    changes: list[str] = []
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if seconds and elapsed >= seconds:
                return 0
            for dead in fleet.failed():
                workers.as_now(dead)
                said = fleet.revive(dead)
                if said is None:
                    print(_gave_up(dead), file=sys.stderr)
                    return 1
                print(said, file=sys.stderr, flush=True)
                changes = [*changes, said][-5:]
            try:
                registry = registry_symbols(settings.database_url)
                if registry is not None:
                    wanted, removed = registry
                    changes = (
                        changes
                        + workers.sync(wanted, out_of_fleet(client, removed & set(workers.symbols)))
                    )[-5:]
                heartbeat = {str(k): str(v) for k, v in client.hgetall(BRIDGE_HEARTBEAT).items()}
                fills = fill_counts(settings.database_url)
                everyone = workers.symbols
                rows = status_rows(client, everyone[:TABLE_ROWS], fills)
                more = len(everyone) - len(rows)
                hidden = [f"... and {more} more symbols: see the dashboard"] if more > 0 else []
                text = "\n".join([render(rows, heartbeat, elapsed, urls), *hidden, *changes])
            except redis.RedisError as exc:
                text = f"redis unavailable: {exc}"
            show(sys.stdout, text)
            stop.wait(STATUS_EVERY_S)
        return 0
    finally:
        client.close()
