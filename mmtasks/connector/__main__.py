"""Run the connector: `python -m mmtasks.connector --sim | --venue ID [options]` (see --help)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from mmtasks.connector.server import ConnectorServer, ServerOptions, bind_address, check_options
from mmtasks.connector.sim_control import FaultInterceptor, sim_control_service
from mmtasks.decimals import parse_decimal
from mmtasks.domain import parse_symbol, parse_symbols
from mmtasks.errors import ValidationError
from mmtasks.logging_setup import configure
from mmtasks.observability import init_sentry
from mmtasks.settings import get_settings
from mmtasks.sim.cli import (
    feed_options,
    liquidity_of,
    liquidity_option,
    listen_options,
    write_port_file,
)
from mmtasks.sim.control import SimController
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.faults import FaultPlan
from mmtasks.sim.feeds import make_feed
from mmtasks.sim.models import SimConfig
from mmtasks.sim.runner import FeedRunner
from mmtasks.sim.venue import SimVenue

log = logging.getLogger("mmtasks.connector")

EPILOG = """\
examples:
  python -m mmtasks.connector --sim
  python -m mmtasks.connector --venue binanceusdm --testnet --symbols BTCUSDT,ETHUSDT
  python -m mmtasks.connector --venue binanceusdm --paper --symbols BTCUSDT
  python -m mmtasks.connector --venue binanceusdm --base-url http://127.0.0.1:8765
  python -m mmtasks.connector --sim --port 0 --port-file .data/connector.port --feed none
  python -m mmtasks.connector --sim --symbols BTCUSDT,SOLUSDT --start-price SOLUSDT=150 \\
      --liquidity 0.01 --rate-limit 50
  CONNECTOR_TOKEN=s3cret python -m mmtasks.connector --sim --host 0.0.0.0

A real venue (--venue, any ccxt id with an adapter: binanceusdm, binance) takes its keys from
MMTASKS_VENUE_API_KEY / MMTASKS_VENUE_API_SECRET (or *_FILE naming a file); they are never
logged. --paper needs no keys: market data from the venue, orders to the simulator's engine.

Once listening and SERVING it prints one line to stdout:
  mmtasks connector listening on HOST:PORT
SIGTERM or SIGINT ends every stream with UNAVAILABLE and exits 0.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m mmtasks.connector",
        description="gRPC ExchangeService (+ SimControl, + grpc.health.v1) for mmtasks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _venue_options(p.add_argument_group("what to serve"))
    _sim_options(p.add_argument_group("the simulated exchange (--sim)"))
    _serving_options(p.add_argument_group("serving"))
    _fault_options(p.add_argument_group("the simulator's behaviour"))
    return p


def _venue_options(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--sim", action="store_true", help="serve the simulated exchange")
    p.add_argument(
        "--venue",
        metavar="ID",
        help="serve a real exchange through ccxt: binanceusdm (USDⓈ-M perpetuals) or binance "
        "(spot)",
    )
    p.add_argument(
        "--testnet", action="store_true", help="with --venue: the venue's testnet (ccxt sandbox)"
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="with --venue: send every REST and websocket call to this origin instead "
        "(e.g. the Binance-speaking simulator, python -m mmtasks.sim.binance)",
    )
    p.add_argument(
        "--no-budget",
        action="store_true",
        help="with --venue: pace calls with ccxt's own per-process throttle instead of the "
        "fleet-wide rate budget in Redis (REDIS_URL)",
    )
    p.add_argument(
        "--paper",
        action="store_true",
        help="with --venue: market data from the venue, orders filled by the simulator's "
        "matching engine (no keys needed)",
    )


def _sim_options(p: argparse._ArgumentGroup) -> None:
    feed_options(p)
    p.add_argument(
        "--feed-burst",
        action="store_true",
        help="play each round's ticks at the same instant instead (every symbol at once)",
    )


def _serving_options(p: argparse._ArgumentGroup) -> None:
    listen_options(p, port=50051)
    p.add_argument(
        "--token",
        help="require 'authorization: Bearer TOKEN' (default: "
        "$CONNECTOR_TOKEN); mandatory when binding beyond loopback",
    )
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve TLS")
    p.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    p.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, ... (default $LOG_LEVEL or INFO)"
    )


def _fault_options(p: argparse._ArgumentGroup) -> None:
    liquidity_option(p)
    p.add_argument(
        "--rate-limit",
        type=float,
        help="ExchangeService calls/s before RESOURCE_EXHAUSTED (default unlimited)",
    )
    p.add_argument("--latency-ms", type=int, default=0, help="latency added to every call")
    p.add_argument(
        "--start-price",
        action="append",
        nargs="+",
        default=[],
        metavar="SYMBOL=PRICE",
        help="start price of a symbol (repeatable)",
    )
    p.add_argument("--starting-balance", default="1000000", help="quote balance (default 1000000)")


def parse_start_prices(items: list[list[str]], symbols: tuple[str, ...]) -> dict[str, Decimal]:
    """Return {symbol: price} from SYMBOL=PRICE items, each symbol one of `symbols`."""
    prices: dict[str, Decimal] = {}
    for item in (x for group in items for x in group):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"--start-price must be SYMBOL=PRICE, received {item!r}")
        symbol = parse_symbol(name)
        if symbol not in symbols:
            raise ValidationError(f"--start-price symbol {symbol} is not in --symbols")
        prices[symbol] = parse_decimal(value, f"start price of {symbol}", positive=True)
    return prices


def server_options(args: argparse.Namespace) -> ServerOptions:
    token = args.token or get_settings().connector_token or None
    return ServerOptions(args.host, args.port, token, args.tls_cert, args.tls_key)


def build(args: argparse.Namespace) -> tuple[SimController, ServerOptions]:
    """Return the simulated exchange (with feed and faults) and server options of the CLI args."""
    symbols = parse_symbols(args.symbols)
    config = SimConfig(
        symbols=symbols,
        start_prices=parse_start_prices(args.start_price, symbols),
        liquidity=liquidity_of(args),
        starting_balance=parse_decimal(
            args.starting_balance, "starting balance", non_negative=True
        ),
    )
    engine = SimExchange(config)
    rules = {s: engine.rules(s) for s in engine.symbols}
    feed = make_feed(args.feed, rules, args.seed)
    runner = FeedRunner(engine, feed, args.tick_ms, spread=not args.feed_burst)
    faults = FaultPlan(rate_limit_per_s=args.rate_limit, latency_ms=args.latency_ms)
    return SimController(engine, runner, faults), server_options(args)


async def serve(controller: SimController, options: ServerOptions, port_file: Path | None) -> int:
    """Serve the simulator until SIGTERM/SIGINT; return the exit code."""
    # The one place the simulator is wired in: its venue, its control service, its faults.
    server = ConnectorServer(
        SimVenue(controller.engine),
        options,
        services=[sim_control_service(controller)],
        interceptors=[FaultInterceptor(controller.faults)],
    )
    controller.add_stream_dropper(server.drop_streams)
    return await run_server(server, options, port_file, controller.runner)


VENUE_SOCKET_DROP = "the venue's socket was lost or (re)connected: streams restart"


async def serve_venue(venue: Any, options: ServerOptions, port_file: Path | None) -> int:
    """Serve a real (or paper) venue until SIGTERM/SIGINT; return the exit code."""
    server = ConnectorServer(venue, options)
    if hasattr(venue, "add_stream_dropper"):
        # A venue socket lost, or (re)connected, ends our streams: clients reconcile after it.
        venue.add_stream_dropper(lambda: server.drop_streams(VENUE_SOCKET_DROP))
    try:
        return await run_server(server, options, port_file, getattr(venue, "runner", None))
    finally:
        await asyncio.get_running_loop().run_in_executor(None, venue.close)


async def run_server(
    server: ConnectorServer, options: ServerOptions, port_file: Path | None, runner: Any
) -> int:
    """Start server (and the sim's feed runner, if any), wait for a signal, stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = await server.start()
    except OSError as exc:
        log.error("%s", exc)
        return 1
    # The feed runs on the event loop, not a thread: no GIL hand-offs with the stream writers.
    feed = asyncio.create_task(runner.run_async()) if runner is not None else None
    print(f"mmtasks connector listening on {bind_address(options.host, port)}", flush=True)
    if port_file is not None:
        write_port_file(port_file, port)
    await stop.wait()
    log.info("signal received, shutting down")
    if runner is not None and feed is not None:
        runner.stop()
        await feed
    await server.stop(grace_s=2.0)
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the connector from the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (args.log_level or get_settings().log_level or "INFO").upper()
    configure(level)
    if bool(args.sim) == bool(args.venue):
        parser.error("choose the exchange: --sim (the simulator) or --venue ID (e.g. binanceusdm)")
    if not args.venue and (args.testnet or args.base_url or args.paper):
        parser.error("--testnet, --base-url and --paper go with --venue")
    if args.testnet and args.base_url:
        parser.error("--testnet and --base-url both say where the venue is: choose one")
    init_sentry("connector")
    if args.venue:
        return run_venue(parser, args)
    try:
        controller, options = build(args)
        check_options(options)  # refuse bad options before touching the network
    except ValidationError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    log.info(
        "simulated exchange: symbols=%s feed=%s tick_ms=%d seed=%d liquidity=%s rate_limit=%s",
        ",".join(controller.engine.symbols),
        args.feed,
        args.tick_ms,
        args.seed,
        args.liquidity or "unlimited",
        args.rate_limit or "unlimited",
    )
    return asyncio.run(serve(controller, options, args.port_file))


def run_venue(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Build the real (or paper) venue of the CLI args and serve it."""
    from mmtasks.errors import MMError
    from mmtasks.venues.ccxt import CcxtConfig, CcxtVenue, keys_from_env
    from mmtasks.venues.paper import PaperVenue

    try:
        options = server_options(args)
        check_options(options)
        key, secret = ("", "") if args.paper else keys_from_env()
        settings = get_settings()
        config = CcxtConfig(
            args.venue,
            symbols=parse_symbols(args.symbols),
            testnet=args.testnet,
            base_url=args.base_url or "",
            api_key=key,
            secret=secret,
            budget_redis_url="" if args.no_budget or args.paper else settings.redis_url,
            budget_limits={
                "weight_per_minute": settings.budget_weight_per_minute,
                "orders_per_10s": settings.budget_orders_per_10s,
                "orders_per_minute": settings.budget_orders_per_minute,
            },
            budget_ip=settings.venue_ip,
        )
        log.info("venue %r (paper=%s)", config, args.paper)
        venue: Any = PaperVenue(config, args.starting_balance) if args.paper else CcxtVenue(config)
    except ValidationError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except MMError as exc:  # the venue did not answer, or refused the keys: say so and stop
        parser.exit(3, f"{parser.prog}: cannot start {args.venue}: {exc}\n")
    return asyncio.run(serve_venue(venue, options, args.port_file))


if __name__ == "__main__":
    sys.exit(main())
