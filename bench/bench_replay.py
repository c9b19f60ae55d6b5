"""Replay speed: candles/s and core evaluations/s on a generated year of 1-minute candles.

    .venv/bin/python bench/bench_replay.py [--days 365] [--seed 1]

Prints one line per configuration (long and neutral; default risk, with the volume monitor
on, and with it off). Generating the year is not timed; the replay (fast path) is.
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.replay.engine import Config
from mmtasks.replay.generate import generate
from mmtasks.replay.session import replay
from mmtasks.replay.venue import Fees

RULES = SymbolRules(Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = generate(args.days * 1440, seed=args.seed)
    for column in ("low", "high", "close"):
        data.floats(column)
    print(f"{len(data):,} generated 1m candles, {data.close_text[0]} -> {data.close_text[-1]}")
    for interval in ("1000", "300"):
        for mode in ("long", "neutral"):
            for monitor in (False, True):
                strategy = {
                    "mode": mode,
                    "interval": interval,
                    "buy_levels": 10,
                    "sell_levels": 10,
                    "order_qty": "0.01",
                }
                cfg = Config(
                    "BTCUSDT",
                    parse_grid_config(strategy),
                    parse_risk_config({"enable_volume_monitor": monitor}),
                    RULES,
                    Fees(),
                )
                out = replay(cfg, data)
                e, s = out.engine, out.elapsed_s
                print(
                    f"{mode:8} interval {interval:>5} monitor {'on ' if monitor else 'off'}: "
                    f"{len(data) / s:>10,.0f} candles/s  {e.evaluations / s:>8,.0f} core "
                    f"evaluations/s  ({e.evaluations:,} evaluations, {len(e.fills):,} fills, "
                    f"{s:.2f}s)"
                )


if __name__ == "__main__":
    main()
