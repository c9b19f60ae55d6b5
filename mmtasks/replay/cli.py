"""`mmtasks replay`: replay grid configs over history on the live core; report, plot, sweep."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from mmtasks.errors import ValidationError
from mmtasks.grid.config import SymbolRules
from mmtasks.registry.configs import parse_risk, parse_strategy
from mmtasks.replay.engine import Config
from mmtasks.replay.parsers import FORMATS, load
from mmtasks.replay.path import PATH_ORDERS
from mmtasks.replay.series import Series
from mmtasks.replay.venue import FILL_MODES, Fees

SAMPLE = Path(__file__).parent / "data" / "sample-BTCUSDT-1m.csv"
SAMPLE_REL = "mmtasks/replay/data/sample-BTCUSDT-1m.csv"
EXAMPLES = f"""\
examples:
  mmtasks replay --data {SAMPLE_REL} \\
      --strategy '{{"mode": "neutral", "interval": "100", "order_qty": "0.01"}}' --plot out.png
  mmtasks replay --data BTCUSDT-1m-2024-01.csv --config configs/symbols.yaml --symbol BTCUSDT
  mmtasks replay --data candles.json --interval 50 --order-qty 0.01 --fill touch --json r.json
  mmtasks replay --data ticks.csv --interval 10 --order-qty 1 --risk '{{"max_position": "5"}}'
  mmtasks replay --data {SAMPLE_REL} --interval 100 --order-qty 0.01 \\
      --sweep interval=50,100,200 buy_levels=5,10

Inputs: `ts,price[,volume]` ticks; Binance kline CSV (with or without header); Freqtrade JSON
[[ts,o,h,l,c,v],...]; `.gz` is fine. A candle's path is open, the nearer extreme, the farther
one, close (--path to force). Fills: resting orders fill at their price when the path trades
through them (--fill touch: when it reaches them, as the simulated exchange does); an order the
market has passed fills at once at the current price as a taker. See docs/replay.md.
"""
STRATEGY_FLAGS = ("mode", "interval", "buy_levels", "sell_levels", "order_qty", "order_notional")


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the replay options to parser and return it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    src = parser.add_argument_group("input")
    src.add_argument("--data", type=Path, help="price file (ticks, Binance CSV, Freqtrade JSON)")
    src.add_argument("--format", choices=FORMATS, default="auto")
    src.add_argument("--skip-bad", action="store_true", help="drop and count bad rows")
    src.add_argument("--symbol", default="BTCUSDT", help="symbol to replay (default BTCUSDT)")
    cfg = parser.add_argument_group("configuration (as add_symbol takes it)")
    cfg.add_argument("--config", type=Path, help="YAML shaped like configs/symbols.yaml")
    cfg.add_argument("--strategy", default="{}", help="strategy_config as JSON")
    cfg.add_argument("--risk", default="{}", help="risk_config as JSON")
    for name in STRATEGY_FLAGS:
        cfg.add_argument(f"--{name.replace('_', '-')}", dest=name, help=f"strategy {name}")
    venue = parser.add_argument_group("venue")
    venue.add_argument("--tick-size", default="0.01")
    venue.add_argument("--step-size", default="0.00001")
    venue.add_argument("--min-qty", default="0")
    venue.add_argument("--min-notional", default="0")
    venue.add_argument("--maker-fee", default="0.0002", help="fraction of notional")
    venue.add_argument("--taker-fee", default="0.0004", help="fraction of notional")
    venue.add_argument("--fill", choices=FILL_MODES, default="strict")
    venue.add_argument("--path", choices=PATH_ORDERS, default="auto", dest="path_order")
    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, help="write the report as JSON here")
    out.add_argument("--plot", type=Path, help="write the PNG here")
    out.add_argument("--plain", action="store_true", help="visit every row (no fast-forward)")
    out.add_argument("--sweep", nargs="+", metavar="KEY=V1,V2", help="strategy/risk grid")
    out.add_argument("--sweep-csv", type=Path, default=Path("sweep.csv"))
    out.add_argument("--jobs", type=int, default=0, help="sweep processes (default: CPUs)")
    return parser


def _json_arg(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ValidationError(f"--{name} must be a JSON object, received {text!r}")
    return value


def raw_configs(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (strategy, risk) as dicts: the file's entry, then --strategy/--risk, then flags."""
    strategy: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    if args.config:
        doc = yaml.safe_load(args.config.read_text())
        entry = (doc or {}).get("symbols", {}).get(args.symbol.upper())
        if entry is None:
            raise ValidationError(f"{args.config}: no entry for symbol {args.symbol}")
        strategy, risk = dict(entry.get("strategy", {})), dict(entry.get("risk", {}))
    strategy.update(_json_arg(args.strategy, "strategy"))
    risk.update(_json_arg(args.risk, "risk"))
    for name in STRATEGY_FLAGS:
        value = getattr(args, name)
        if value is not None:
            strategy[name] = int(value) if name.endswith("levels") else value
    return strategy, risk


def make_config(args: argparse.Namespace, strategy: dict[str, Any], risk: dict[str, Any]) -> Config:
    """Return the replay config (validated as add_symbol validates it)."""
    rules = SymbolRules.from_dict(
        {
            "tick_size": args.tick_size,
            "step_size": args.step_size,
            "min_qty": args.min_qty,
            "min_notional": args.min_notional,
        }
    )
    return Config(
        symbol=args.symbol.upper(),
        strategy=parse_strategy(strategy),
        risk=parse_risk(risk),
        rules=rules,
        fees=Fees(Decimal(args.maker_fee), Decimal(args.taker_fee)),
        fill=args.fill,
    )


def load_data(args: argparse.Namespace) -> Series:
    """Return the series to replay from --data."""
    if args.data is None:
        raise ValidationError(f"--data is required (try --data {SAMPLE_REL})")
    return load(args.data, args.format, skip_bad=args.skip_bad)


def run(args: argparse.Namespace) -> int:
    """Run `mmtasks replay`."""
    from mmtasks.replay.report import render, summarize
    from mmtasks.replay.session import replay

    data = load_data(args)
    strategy, risk = raw_configs(args)
    if args.sweep:
        from mmtasks.replay.sweep import run_sweep

        return run_sweep(args, data, strategy, risk)
    cfg = make_config(args, strategy, risk)
    outcome = replay(cfg, data, order=args.path_order, fast=not args.plain)
    report = summarize(outcome)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    if args.plot:
        from mmtasks.replay.plot import plot

        plot(outcome, args.plot)
        print(f"picture written to {args.plot}")
    return 0


def register(sub: Any, wrap: Callable[..., Any] | None = None) -> None:
    """Register the `replay` subcommand on an argparse subparsers object."""
    parser = sub.add_parser(
        "replay",
        help="replay grid configs over price history (backtest) on the live core",
        description=__doc__,
    )
    build_parser(parser)
    parser.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """Run `mmtasks replay` on its own (python -m mmtasks.replay.cli)."""
    parser = build_parser(argparse.ArgumentParser(prog="mmtasks replay", description=__doc__))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValidationError as exc:
        print(f"mmtasks replay: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
