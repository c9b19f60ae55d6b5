"""Parameter sweeps: every combination in parallel processes (`--jobs`, a progress bar), ranked
by the metric `--rank` names (net PnL, net PnL / max drawdown, fills), as a table and as CSV."""

from __future__ import annotations

import argparse
import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from decimal import Decimal
from itertools import product
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from mmtasks.errors import ValidationError
from mmtasks.grid.config import GridConfig, RiskConfig

if TYPE_CHECKING:
    from mmtasks.replay.inputs import Input

COLUMNS = (
    "net_pnl",
    "realized_pnl",
    "fees",
    "max_drawdown",
    "return_on_capital",
    "fills",
    "round_trips",
    "sharpe_daily",
)


RANKS = ("pnl", "pnl_drawdown", "fills")


def rank_value(report: dict[str, Any], rank: str) -> Decimal:
    """Return a run's figure for rank: net PnL, net PnL / max drawdown, or its fills."""
    if rank == "fills":
        return Decimal(report["fills"])
    net = Decimal(report["net_pnl"])
    if rank == "pnl":
        return net
    drawdown = Decimal(report["max_drawdown"])
    if drawdown == 0:  # never below its peak: ahead of every run that was, by its PnL
        return Decimal("Infinity") if net > 0 else net
    return net / drawdown


def parse_axes(items: list[str]) -> list[tuple[str, list[str]]]:
    """Return [(key, values)] from `key=v1,v2` items; keys are strategy or risk fields."""
    axes = []
    known = set(GridConfig.model_fields) | set(RiskConfig.model_fields)
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values or key not in known:
            raise ValidationError(
                f"--sweep takes key=v1,v2 with a strategy or risk field, received {item!r}"
            )
        axes.append((key, values.split(",")))
    return axes


# The series every run of a worker process replays: handed over once when the process starts
# (a year of candles is tens of MB to pickle; sent with each run it cost more than some runs).
_source: list[Input] = []


def _receive(source: Input) -> None:
    _source[:] = [source]


def _one(
    args: argparse.Namespace, strategy: dict[str, Any], risk: dict[str, Any]
) -> dict[str, Any]:
    from mmtasks.replay.inputs import make_config
    from mmtasks.replay.report import summarize
    from mmtasks.replay.session import replay

    source = _source[0]
    cfg = make_config(args, source.symbol, strategy, risk, source.info)
    return summarize(replay(cfg, source.data, order=args.path_order, fast=not args.plain))


def run_sweep(
    args: argparse.Namespace, source: Input, strategy: dict[str, Any], risk: dict[str, Any]
) -> int:
    """Run every combination, print the ranked table and write it as CSV."""
    axes = parse_axes(args.sweep)
    keys = [k for k, _ in axes]
    combos = [dict(zip(keys, values, strict=True)) for values in product(*(v for _, v in axes))]
    jobs = args.jobs or os.cpu_count() or 1
    results: list[tuple[dict[str, str], dict[str, Any]]] = []
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, initializer=_receive, initargs=(source,)) as pool:
        futures = {}
        for combo in combos:
            s, r = dict(strategy), dict(risk)
            for key, value in combo.items():
                target = s if key in GridConfig.model_fields else r
                target[key] = _value(key, value)
            futures[pool.submit(_one, args, s, r)] = combo
        for future in tqdm(as_completed(futures), total=len(futures), desc="sweep", unit="run"):
            results.append((futures[future], future.result()))
    wall_s = time.perf_counter() - started
    rank = getattr(args, "rank", "pnl")
    results.sort(key=lambda item: rank_value(item[1], rank), reverse=True)
    header = [*keys, *COLUMNS, "pnl_drawdown"]
    rows = [
        [combo[k] for k in keys]
        + [str(rep[c]) for c in COLUMNS]
        + [_ratio_text(rank_value(rep, "pnl_drawdown"))]
        for combo, rep in results
    ]
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    with args.sweep_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    what = {"pnl": "net PnL", "pnl_drawdown": "net PnL / max drawdown", "fills": "fills"}[rank]
    print(
        f"{len(rows)} runs of {len(source.data):,} rows in {wall_s:.1f} s wall on {jobs} "
        f"processes, ranked by {what}; table written to {args.sweep_csv}"
    )
    return 0


def _value(key: str, text: str) -> object:
    # Decimals stay text (exact); levels are ints and switches bools, as a config file spells them.
    if text in ("true", "false"):
        return text == "true"
    return int(text) if text.isdigit() and "levels" in key else text


def _ratio_text(value: Decimal) -> str:
    return str(value) if not value.is_finite() else str(value.quantize(Decimal("0.0001")))
