"""What to replay: each symbol's prices and configs, from the command line's arguments.

`mmtasks replay` and its sweep read the same arguments into the same model: the symbols, their
(strategy, risk) from a symbols file, JSON and flags, the venue's rules and fees, and each
symbol's series from --data or a recording.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.grid.config import SymbolRules
from mmtasks.registry.configs import merge, parse_risk, parse_strategy
from mmtasks.replay.engine import Config
from mmtasks.replay.matcher import Fees
from mmtasks.replay.parsers import load
from mmtasks.replay.series import Series

SAMPLE_REL = "mmtasks/replay/data/sample-BTCUSDT-1m.csv"
STRATEGY_FLAGS = ("mode", "interval", "buy_levels", "sell_levels", "order_qty", "order_notional")
# Symbol rules and fees: a flag, else what a recording's connector reported, else these.
VENUE_DEFAULTS = {
    "tick_size": "0.01",
    "step_size": "0.00001",
    "min_qty": "0",
    "min_notional": "0",
    "maker_fee": "0.0002",
    "taker_fee": "0.0004",
}


def _json_arg(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ValidationError(f"--{name} must be a JSON object, received {text!r}")
    return value


def _config_file(path: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Return {symbol: (strategy, risk)} of a symbols file, checked as `mmtasks seed` checks it."""
    from mmtasks.registry.seed import load_seed_file

    return {row.symbol: (row.strategy, row.risk) for row in load_seed_file(path)}


def symbols_of(args: argparse.Namespace) -> list[str]:
    """Return the symbols to replay: --symbol, else every symbol of --config, else BTCUSDT."""
    if args.symbol:
        return list(dict.fromkeys(parse_symbol(s) for s in args.symbol))
    if args.config:
        return list(_config_file(args.config))
    return ["BTCUSDT"]


def raw_configs(args: argparse.Namespace, symbol: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (strategy, risk) as dicts: the file's entry, then --strategy/--risk, then flags."""
    strategy: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    if args.config:
        entry = _config_file(args.config).get(symbol)
        if entry is None:
            raise ValidationError(f"{args.config}: no entry for symbol {symbol}")
        strategy, risk = entry
    # Later sources patch earlier ones as update_symbol does (naming a size replaces the other).
    strategy = merge(strategy, _json_arg(args.strategy, "strategy"), "strategy")
    risk = merge(risk, _json_arg(args.risk, "risk"), "risk")
    flags = {
        name: int(value) if name.endswith("levels") else value
        for name in STRATEGY_FLAGS
        if (value := getattr(args, name)) is not None
    }
    return merge(strategy, flags, "strategy"), risk


def venue_value(args: argparse.Namespace, name: str, info: dict[str, str] | None) -> str:
    """Return a venue setting: the flag, else the recording's, else the default."""
    flag = getattr(args, name)
    if flag is not None:
        return str(flag)
    if info and info.get(name):
        return info[name]
    return VENUE_DEFAULTS[name]


def make_config(
    args: argparse.Namespace,
    symbol: str,
    strategy: dict[str, Any],
    risk: dict[str, Any],
    info: dict[str, str] | None = None,
) -> Config:
    """Return the replay config (validated as add_symbol validates it)."""
    names = ("tick_size", "step_size", "min_qty", "min_notional")
    rules = SymbolRules.from_dict({k: venue_value(args, k, info) for k in names})
    fees = Fees(
        Decimal(venue_value(args, "maker_fee", info)), Decimal(venue_value(args, "taker_fee", info))
    )
    return Config(
        symbol=symbol,
        strategy=parse_strategy(strategy),
        risk=parse_risk(risk),
        rules=rules,
        fees=fees,
        fill=args.fill,
    )


@dataclass(frozen=True)
class Input:
    """One symbol's prices, and the rules its connector reported (recordings only)."""

    symbol: str
    data: Series
    info: dict[str, str] | None = None


def load_inputs(args: argparse.Namespace, symbols: list[str]) -> list[Input]:
    """Return each symbol's series from --data or --recording."""
    if args.recording is not None:
        if args.data:
            raise ValidationError("give --data or --recording, not both")
        from mmtasks.replay.recording import load_recording

        interval = "1m"
        out = []
        for symbol in symbols:
            interval = parse_risk(raw_configs(args, symbol)[1]).kline_interval
            rec = load_recording(args.recording, symbol, interval)
            out.append(Input(symbol, rec.data, rec.info))
        return out
    paths: list[Path] = args.data or []
    if not paths:
        raise ValidationError(f"--data or --recording is required (try --data {SAMPLE_REL})")
    if len(paths) == 1 and "{symbol}" in str(paths[0]):
        paths = [Path(str(paths[0]).replace("{symbol}", s)) for s in symbols]
    if len(paths) != len(symbols):
        raise ValidationError(
            f"{len(symbols)} symbols ({', '.join(symbols)}) need one --data each, or one path "
            f"with {{symbol}} in it; received {len(paths)} --data"
        )
    return [
        Input(s, load(p, args.format, skip_bad=args.skip_bad))
        for s, p in zip(symbols, paths, strict=True)
    ]
