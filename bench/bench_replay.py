"""Replay speed: candles/s and core evaluations/s on a generated year of 1-minute candles.

    .venv/bin/python bench/bench_replay.py [--days 365] [--seed 1] [--repeat 3] [--intervals 1000]

One line per configuration: long and neutral; a wide grid (interval 1000, ~3% of the price)
and a tighter one (300); the default risk config (volume monitor on) and the same with the
monitor off. Each runs --repeat times: the best figure and the spread (slowest/best) are
printed, the machine being shared, for wall-clock time and for CPU time (`time.process_time`,
far steadier on a shared machine). Generating the year is not timed; the replay (fast path,
from the float columns to the report's inputs) is.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.replay.engine import Config
from mmtasks.replay.generate import generate
from mmtasks.replay.matcher import Fees
from mmtasks.replay.session import replay

RULES = SymbolRules(Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--intervals", default="1000,300", help="comma-separated grid intervals")
    args = parser.parse_args()
    data = generate(args.days * 1440, seed=args.seed)
    for column in ("low", "high", "close", "volume"):
        data.floats(column)  # the float columns, parsed once with the data (as a sweep does)
    close = data.floats("close")
    print(
        f"{len(data):,} generated 1m candles (seed {args.seed}), {data.close_text[0]} -> "
        f"{data.close_text[-1]}, range {close.min():,.0f} .. {close.max():,.0f}; best of "
        f"{args.repeat}"
    )
    for interval in args.intervals.split(","):
        for mode in ("long", "neutral"):
            for monitor in (True, False):
                strategy = {
                    "mode": mode,
                    "interval": interval,
                    "buy_levels": 10,
                    "sell_levels": 10,
                    "order_qty": "0.01",
                }
                risk = {} if monitor else {"enable_volume_monitor": False}
                cfg = Config(
                    "BTCUSDT",
                    parse_grid_config(strategy),
                    parse_risk_config(risk),
                    RULES,
                    Fees(),
                )
                runs, cpu = [], []
                for _ in range(args.repeat):
                    started = time.process_time()
                    runs.append(replay(cfg, data))
                    cpu.append(time.process_time() - started)
                times = [r.elapsed_s for r in runs]
                e, best, best_cpu = runs[0].engine, min(times), min(cpu)
                label = "default risk" if monitor else "monitor off "
                print(
                    f"{mode:8} interval {interval:>5} {label}: {len(data) / best:>10,.0f} "
                    f"candles/s wall (spread {max(times) / best:.2f}x), "
                    f"{len(data) / best_cpu:>10,.0f} candles/s CPU (spread "
                    f"{max(cpu) / best_cpu:.2f}x)  {e.evaluations / best_cpu:>8,.0f} core "
                    f"evaluations/s CPU  ({e.steps:,} points visited, "
                    f"{e.evaluations:,} evaluations, {e.venue.placed:,} orders placed, "
                    f"{len(e.fills):,} fills, {best_cpu:.2f}s CPU)"
                )


if __name__ == "__main__":
    main()
