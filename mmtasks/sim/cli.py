"""Command-line pieces of the two processes that serve the simulator (the connector and the
Binance-speaking simulator): where to listen, the feed, the liquidity, and the port file.
"""

from __future__ import annotations

import argparse
import os
from decimal import Decimal
from pathlib import Path

from mmtasks.decimals import parse_decimal

Options = argparse.ArgumentParser | argparse._ArgumentGroup


def listen_options(p: Options, port: int) -> None:
    """Add --host, --port (default port) and --port-file."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=port, help="port (default %(default)s; 0 = any free)"
    )
    p.add_argument("--port-file", type=Path, help="write the bound port here once serving")


def feed_options(p: Options) -> None:
    """Add --symbols, --feed, --tick-ms and --seed: what the simulator trades and its prices."""
    p.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT",
        help="comma-separated symbols to trade (default BTCUSDT,ETHUSDT); names other "
        "than the built-in ones get generic rules (tick 0.01, step 0.001, start 100)",
    )
    p.add_argument(
        "--feed",
        default="random",
        help="random | none | scripted:P1,P2,... | csv:PATH (default random)",
    )
    p.add_argument(
        "--tick-ms",
        type=int,
        default=200,
        help="ms between feed rounds, one tick per symbol each (default 200; 0 = flat out); "
        "a round's ticks are spread over the interval, one symbol after another",
    )
    p.add_argument("--seed", type=int, default=0, help="random-walk seed (default 0)")


def liquidity_option(p: Options) -> None:
    """Add --liquidity (read it with `liquidity_of`)."""
    p.add_argument(
        "--liquidity", help="base qty a resting order may fill per price tick (default unlimited)"
    )


def liquidity_of(args: argparse.Namespace) -> Decimal | None:
    """Return the --liquidity given, or None (unlimited)."""
    return parse_decimal(args.liquidity, "liquidity", positive=True) if args.liquidity else None


def write_port_file(path: Path, port: int) -> None:
    """Write the bound port to path, for the process that started this one to read."""
    # Write then rename, so a reader polling for the file never sees it half written.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n")
    tmp.replace(path)
