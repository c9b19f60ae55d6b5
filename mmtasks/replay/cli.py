"""`mmtasks replay`: replay grid configs over history on the live core; report, plot, sweep."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.grid.config import SymbolRules
from mmtasks.registry.configs import (
    kind_of,
    parse_risk,
    parse_strategy_config,
)
from mmtasks.replay.inputs import (
    SAMPLE_REL,
    STRATEGY_FLAGS,
    VENUE_DEFAULTS,
    Input,
    load_inputs,
    make_config,
    raw_configs,
    symbols_of,
    venue_value,
)
from mmtasks.replay.matcher import FILL_MODES, Fees
from mmtasks.replay.parsers import FORMATS
from mmtasks.replay.path import PATH_ORDERS

SAMPLE = Path(__file__).parent / "data" / "sample-BTCUSDT-1m.csv"
EXAMPLES = f"""\
examples:
  mmtasks replay --data {SAMPLE_REL} \\
      --strategy '{{"mode": "neutral", "interval": "100", "order_qty": "0.01"}}' --plot out.png
  mmtasks replay --data BTCUSDT-1m-2024-01.csv --config configs/symbols.yaml --symbol BTCUSDT
  mmtasks replay --data 'history/{{symbol}}-1m.csv' --config configs/symbols.yaml   # every symbol
  mmtasks replay --recording .data/run/recordings --symbol BTCUSDT --symbol ETHUSDT \\
      --config configs/symbols.yaml --fill touch
  mmtasks replay --data candles.json --interval 50 --order-qty 0.01 --fill touch --json r.json
  mmtasks replay --data ticks.csv --interval 10 --order-qty 1 --risk '{{"max_position": "5"}}'
  mmtasks replay --data {SAMPLE_REL} --interval 100 --order-qty 0.01 \\
      --sweep interval=50,100,200 buy_levels=5,10
  mmtasks replay --data {SAMPLE_REL} --config configs/signal.example.yaml --symbol LINKUSDT

A strategy with `kind: signal` (docs/strategy.md, "The signal kind") runs the signal pipeline
on the candles instead of the grid, with the same fill model and report (no --plot or --sweep).

Inputs: `ts,price[,volume]` ticks; Binance kline CSV (with or without header); Freqtrade JSON
[[ts,o,h,l,c,v],...]; `.gz` is fine; a recording of the live fleet (python -m
mmtasks.replay.record). A candle's path is open, the nearer extreme, the farther one, close
(--path to force). Fills: resting orders fill at their price when the path trades through them
(--fill touch: when it reaches them, as the simulated exchange does); an order the market has
passed fills at once at the current price as a taker. Several symbols: one report each and a
total. See docs/replay.md.
"""


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the replay options to parser and return it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    src = parser.add_argument_group("input")
    src.add_argument(
        "--data",
        type=Path,
        action="append",
        help="price file (ticks, Binance CSV, Freqtrade JSON); once per --symbol, or one path "
        "with {symbol} in it",
    )
    src.add_argument("--recording", type=Path, help="a recording folder (mmtasks.replay.record)")
    src.add_argument("--format", choices=FORMATS, default="auto")
    src.add_argument("--skip-bad", action="store_true", help="drop and count bad rows")
    src.add_argument(
        "--symbol",
        action="append",
        help="symbol to replay, repeatable (default: every symbol of --config, else BTCUSDT)",
    )
    cfg = parser.add_argument_group("configuration (as add_symbol takes it)")
    cfg.add_argument("--config", type=Path, help="YAML shaped like configs/symbols.yaml")
    cfg.add_argument("--strategy", default="{}", help="strategy_config as JSON")
    cfg.add_argument("--risk", default="{}", help="risk_config as JSON")
    for name in STRATEGY_FLAGS:
        cfg.add_argument(f"--{name.replace('_', '-')}", dest=name, help=f"strategy {name}")
    venue = parser.add_argument_group("venue (a recording brings the connector's own)")
    for name, default in VENUE_DEFAULTS.items():
        what = "fraction of notional, " if name.endswith("fee") else ""
        venue.add_argument(f"--{name.replace('_', '-')}", help=f"{what}default {default}")
    venue.add_argument("--fill", choices=FILL_MODES, default="strict")
    venue.add_argument("--path", choices=PATH_ORDERS, default="auto", dest="path_order")
    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, help="write the report as JSON here")
    out.add_argument("--fills", type=Path, help="write every fill as CSV here")
    out.add_argument("--plot", type=Path, help="write the PNG here (one per symbol)")
    out.add_argument("--plain", action="store_true", help="visit every row (no fast-forward)")
    out.add_argument("--sweep", nargs="+", metavar="KEY=V1,V2", help="strategy/risk grid")
    out.add_argument("--sweep-csv", type=Path, default=Path("sweep.csv"))
    out.add_argument("--jobs", type=int, default=0, help="sweep processes (default: CPUs)")
    out.add_argument(
        "--rank",
        choices=("pnl", "pnl_drawdown", "fills"),
        default="pnl",
        help="sweep ranking: net PnL (default), net PnL / max drawdown, or fills",
    )
    return parser


def write_fills(path: Path, outcomes: list[Any]) -> None:
    """Write every fill of every symbol as CSV (money as exact decimal strings)."""
    from mmtasks.decimals import canon

    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["symbol", "ts_ms", "side", "price", "qty", "fee", "maker", "closing", "realized_pnl"]
        )
        for outcome in outcomes:
            for f in outcome.engine.fills:
                writer.writerow(
                    [
                        outcome.engine.config.symbol,
                        f.ts_ms,
                        f.side.value,
                        canon(f.price),
                        canon(f.qty),
                        canon(f.fee),
                        int(f.maker),
                        int(f.closing),
                        canon(f.realized_pnl),
                    ]
                )


def run(args: argparse.Namespace) -> int:
    """Run `mmtasks replay`."""
    from mmtasks.replay.report import render, render_total, summarize, total
    from mmtasks.replay.session import replay

    symbols = symbols_of(args)
    inputs = load_inputs(args, symbols)
    if args.sweep:
        from mmtasks.replay.sweep import run_sweep

        if len(inputs) != 1:
            raise ValidationError(f"--sweep takes one symbol, received {', '.join(symbols)}")
        only = inputs[0]
        strategy, risk = raw_configs(args, only.symbol)
        return run_sweep(args, only, strategy, risk)
    reports: list[dict[str, Any]] = []
    outcomes: list[Any] = []
    for i in inputs:
        strategy, risk = raw_configs(args, i.symbol)
        if kind_of(strategy) == "signal":
            report, run_ = replay_signal(args, i, strategy, risk)
            reports.append(report)
            outcomes.append(_SignalOutcome(run_))
            continue
        outcome = replay(
            make_config(args, i.symbol, strategy, risk, i.info),
            i.data,
            order=args.path_order,
            fast=not args.plain,
        )
        reports.append(summarize(outcome))
        outcomes.append(outcome)
    print("\n".join(render(r) for r in reports))
    document: dict[str, Any] = reports[0]
    if len(reports) > 1:
        document = {"symbols": reports, "total": total(reports)}
        print(render_total(document["total"]))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"report written to {args.json}")
    if args.fills:
        write_fills(args.fills, outcomes)
        print(f"fills written to {args.fills}")
    if args.plot:
        from mmtasks.replay.plot import plot

        for outcome in outcomes:
            if isinstance(outcome, _SignalOutcome):
                print(f"no picture for {outcome.engine.config.symbol}: --plot draws grid replays")
                continue
            path = args.plot
            if len(outcomes) > 1:
                path = path.with_name(f"{path.stem}-{outcome.engine.config.symbol}{path.suffix}")
            plot(outcome, path)
            print(f"picture written to {path}")
    return 0


@dataclass(frozen=True)
class _SignalOutcome:
    """A signal backtest where the fills writer expects a grid replay's outcome."""

    engine: Any


def replay_signal(
    args: argparse.Namespace, i: Input, strategy: dict[str, Any], risk: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    """Run a `kind: signal` strategy over i's candles; return the report and the run."""
    from mmtasks.replay.signal_backtest import backtest
    from mmtasks.signal.config import SignalConfig
    from mmtasks.signal.validate import Context

    config = parse_strategy_config(strategy)
    assert isinstance(config, SignalConfig)  # kind_of said signal
    names = ("tick_size", "step_size", "min_qty", "min_notional")
    rules = SymbolRules.from_dict({k: venue_value(args, k, i.info) for k in names})
    fees = Fees(
        Decimal(venue_value(args, "maker_fee", i.info)),
        Decimal(venue_value(args, "taker_fee", i.info)),
    )
    context = Context(rules=rules, max_position=parse_risk(risk).max_position)
    return backtest(
        i.data, config, context, i.symbol, fees=fees, fill=args.fill, order=args.path_order
    )


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
