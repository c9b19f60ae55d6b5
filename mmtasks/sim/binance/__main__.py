"""Run the Binance-speaking simulator: `python -m mmtasks.sim.binance [options]` (see --help)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from decimal import Decimal
from pathlib import Path

from mmtasks.domain import parse_symbols
from mmtasks.errors import ValidationError
from mmtasks.logging_setup import configure
from mmtasks.sim.binance.limits import LimitConfig
from mmtasks.sim.binance.server import DEFAULT_KEYS, SimOptions, SimServer
from mmtasks.sim.cli import (
    feed_options,
    liquidity_of,
    liquidity_option,
    listen_options,
    write_port_file,
)

log = logging.getLogger("mmtasks.sim.binance")

EPILOG = """\
A paper exchange that speaks Binance's own API: USDⓈ-M perpetuals under /fapi (user stream by
listenKey), spot under /api/v3 (user stream by the WebSocket API), Binance's signing, error
codes, weights, 429 and 418. Point any ccxt-based tool at it:

  python -m mmtasks.sim.binance --port 8765 --feed random
  python -m mmtasks.connector --venue binanceusdm --base-url http://127.0.0.1:8765

Keys: BINANCE_SIM_KEYS="key1:secret1,key2:secret2" (default: one pair,
mmtasks-sim-key / mmtasks-sim-secret). Test-bed control (not Binance's) under /_sim/: POST
price {symbol, price[, market: spot]}, faults {accept_then_fail, fail_status, fail_body,
latency_ms, error_next [{path (a prefix), method (default any), status, code, msg,
retry_after}], delay_next [{path, method, ms}] (the next such request acts that late)}, ban
{seconds}, drop-user-streams {hold_s}; GET stats, orders, trades.

Once serving it prints one line to stdout:
  mmtasks binance simulator listening on http://HOST:PORT
"""


# The request limits as options: (flag, LimitConfig field, what it limits); the defaults are
# LimitConfig's (Binance USDⓈ-M's).
LIMITS = (
    ("--weight-limit", "weight_per_minute", "request weight per IP per minute"),
    ("--orders-per-10s", "orders_per_10s", "orders per account per 10 s"),
    ("--orders-per-minute", "orders_per_minute", "orders per account per minute"),
    (
        "--ban-after",
        "ban_after",
        "requests sent while told to wait (429) before the IP is banned (418)",
    ),
    ("--ban-s", "ban_s", "seconds a ban lasts"),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mmtasks.sim.binance",
        description="The simulated exchange, speaking Binance's REST and websocket API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen_options(p, port=8765)
    feed_options(p)
    defaults = LimitConfig()
    for flag, name, text in LIMITS:
        p.add_argument(
            flag,
            dest=name,
            type=int,
            metavar="N",
            default=getattr(defaults, name),
            help=f"{text} (default %(default)s)",
        )
    liquidity_option(p)
    p.add_argument("--log-level", default="INFO")
    return p


def keys_from_env() -> dict[str, str]:
    text = os.environ.get("BINANCE_SIM_KEYS", "")
    if not text:
        return dict(DEFAULT_KEYS)
    keys = {}
    for pair in text.split(","):
        key, sep, secret = pair.strip().partition(":")
        if not sep or not key or not secret:
            raise ValidationError(
                f"BINANCE_SIM_KEYS must be key:secret[,key:secret], received {pair!r}"
            )
        keys[key] = secret
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(args.log_level)
    try:
        options = SimOptions(
            symbols=parse_symbols(args.symbols),
            feed=args.feed,
            tick_ms=args.tick_ms,
            seed=args.seed,
            keys=keys_from_env(),
            limits=LimitConfig(**{name: getattr(args, name) for _, name, _ in LIMITS}),
            liquidity=liquidity_of(args),
            starting_balance=Decimal(1_000_000),
        )
        server = SimServer(options, args.host, args.port)
    except (ValidationError, OSError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    log.info("symbols=%s feed=%s limits=%s", ",".join(options.symbols), args.feed, options.limits)
    asyncio.run(_serve(server, args.port_file))
    return 0


async def _serve(server: SimServer, port_file: Path | None) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.server.started:  # say where only once it answers
        print(f"mmtasks binance simulator listening on {server.base_url}", flush=True)
        if port_file is not None:
            write_port_file(port_file, server.port)
    await serving


if __name__ == "__main__":
    sys.exit(main())
