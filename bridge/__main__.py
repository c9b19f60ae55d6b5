"""`python -m bridge`: stream prices, order updates and candles from the connector into the
symbols' queues. Settings come from the environment (REDIS_URL, CONNECTOR_ADDR,
CONNECTOR_TOKEN, CONNECTOR_TLS_CA, DATABASE_URL, CELERY_BROKER_URL, LOG_LEVEL)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import redis

from bridge.leader import Leadership
from bridge.rejects import RejectCounter
from bridge.service import Bridge, BridgeConfig
from bridge.sink import Sink
from bridge.symbols import FleetSymbols, StaticSymbols, SymbolSource
from mmtasks.logging_setup import configure
from mmtasks.observability import init_sentry
from mmtasks.settings import Settings, get_settings

DEFAULT_CONFIG = Path("configs/symbols.yaml")
# The BridgeConfig fields the command line sets: (option, field, what it sets); each option's
# type and default are the field's. The other fields come from the settings.
TUNING = (
    ("--resync-s", "resync_s", "re-read the symbol set at least this often"),
    ("--kline-interval", "kline_interval", "candle interval"),
    ("--backoff-cap-s", "backoff_cap_s", "longest pause between reconnect attempts"),
    ("--stats-s", "stats_interval_s", "log message rates this often"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bridge",
        description=(
            "Subscribe to the connector's price, order and kline streams for the active "
            "symbols, validate every message, append order and candle events to each "
            "symbol's inbox (with its seq) and wake its queue; keep only the newest price "
            "per symbol with at most one pending price task. Symbols come from the registry "
            "table symbol_registry (ACTIVE or PAUSED; NOTIFY mm_registry) when it exists, "
            "else from the Redis set mm:symbols plus --config. Reconnects with backoff and "
            "enqueues a reconcile for every symbol after each (re)connect. SIGTERM/SIGINT "
            "write what was read and exit 0."
        ),
        epilog="Environment: REDIS_URL, CONNECTOR_ADDR, CONNECTOR_TOKEN, CONNECTOR_TLS_CA, "
        "DATABASE_URL, CELERY_BROKER_URL, LOG_LEVEL.",
    )
    parser.add_argument(
        "--symbols", default="", help="comma-separated fixed symbol set (skips registry and Redis)"
    )
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="symbols YAML used with the Redis source ('' for none; default %(default)s)",
    )
    for flag, name, text in TUNING:
        default = getattr(BridgeConfig, name)
        parser.add_argument(
            flag,
            dest=name,
            type=type(default),
            default=default,
            help=f"{text} (default %(default)s)",
        )
    parser.add_argument(
        "--no-leader",
        action="store_true",
        help="stream without taking the leader lock mm:bridge:leader (by default a second "
        "bridge stands by and takes over within about 3.5 s of the leader's death)",
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace, settings: Settings) -> Bridge:
    """Return a bridge wired to the Redis, Celery app and connector of settings."""
    from mmtasks.celery import app

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=30)
    rejects = RejectCounter()
    source: SymbolSource
    if args.symbols:
        source = StaticSymbols(s for s in args.symbols.split(",") if s.strip())
    else:
        source = FleetSymbols(
            settings.database_url, client, Path(args.config) if args.config else None
        )
    config = BridgeConfig(
        connector_addr=settings.connector_addr,
        connector_token=settings.connector_token,
        tls_ca=settings.connector_tls_ca,
        connect_timeout_s=settings.connector_timeout_s,
        **{name: getattr(args, name) for _, name, _ in TUNING},
    )
    leadership = None if args.no_leader else Leadership(client)
    return Bridge(config, Sink(client, app, rejects), rejects, source, leadership)


def tune_gc() -> None:
    """Collect less often: every message allocates, and start-up objects never die."""
    gc.freeze()  # modules, settings, the app: out of every future collection
    gc.set_threshold(50_000, 20, 20)


async def serve(bridge: Bridge) -> int:
    """Run bridge until SIGTERM or SIGINT; return the exit code."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bridge.stop)
    return await bridge.run()


def main(argv: list[str] | None = None) -> int:
    """Run the bridge; return the process exit code."""
    args = parse_args(argv)
    settings = get_settings()
    configure(settings.log_level)
    logging.getLogger(__name__).info(
        "bridge starting: connector %s, redis %s", settings.connector_addr, settings.redis_url
    )
    init_sentry("bridge", settings)
    bridge = build(args, settings)
    tune_gc()
    return asyncio.run(serve(bridge))


if __name__ == "__main__":
    sys.exit(main())
