"""Replay speed: candles/s and core evaluations/s, on a generated year and on the shipped sample.

    .venv/bin/python bench/bench_replay.py [--days 365] [--seed 1] [--repeat 3]
        [--intervals 1000,300,100] [--sample-intervals 10] [--modes long,neutral]
    .venv/bin/python bench/bench_replay.py --end-to-end year.csv [--repeat 5]

One line per configuration: long and neutral; a wide grid (interval 1000, ~3% of the price)
and the busy ones (300 and 100, where the grid trades and the core itself is the cost); the
default risk config (volume monitor on) and the same with the monitor off. Then the tight grid
on the shipped sample (2,880 real 1-minute candles, interval 10, `--fill touch`: ~11,000
fills). Each runs --repeat times: the best figure and the spread (slowest/best) are printed,
the machine being shared, for wall-clock time and for CPU time (`time.process_time`, far
steadier on a shared machine); core evaluations/s is beside candles/s (CPU). Evaluations are
the decisions made; the confirming decisions the fast path proves empty and skips (the
cheapest: nothing to place) are counted apart. Generating or parsing the data is not timed;
the replay (fast path, from the float columns to the report's inputs) is.

--end-to-end FILE times `mmtasks replay --data FILE --interval 1000 --order-qty 0.01` (the
default config of issue #28) as a user runs it, from process start to exit (wall clock; user
and system CPU of the process), --repeat times; nothing else runs.

--count CASE ROWS runs one case once on the first ROWS rows, for counting instructions, which
the load of a shared machine does not move (CPU time moves by +-30% there):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/bench_replay.py --count sample-long 400 [--base]

CASE is `sample-long`, `sample-neutral` (interval 10, `--fill touch`) or `year300-long`,
`year1000-neutral-off`, ... (the generated year's first ROWS rows, `-off`: monitor off);
--base only imports and loads the rows: the replay's count is the run's minus the base's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from mmtasks import native

native.use_compiled()  # as `mmtasks replay` does, before the core is imported

from mmtasks.grid.band import FillMode  # noqa: E402
from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config  # noqa: E402
from mmtasks.replay.engine import Config  # noqa: E402
from mmtasks.replay.generate import generate  # noqa: E402
from mmtasks.replay.matcher import Fees  # noqa: E402
from mmtasks.replay.parsers import load  # noqa: E402
from mmtasks.replay.series import Series  # noqa: E402
from mmtasks.replay.session import replay  # noqa: E402

RULES = SymbolRules(Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5))
SAMPLE = Path(__file__).parent.parent / "mmtasks" / "replay" / "data" / "sample-BTCUSDT-1m.csv"


def _floats(data: Series) -> None:
    for column in ("low", "high", "close", "volume"):
        data.floats(column)  # the float columns, parsed once with the data (as a sweep does)


def _measure(
    data: Series,
    label: str,
    strategy: dict[str, object],
    monitor: bool,
    fill: FillMode,
    repeat: int,
) -> None:
    risk = {} if monitor else {"enable_volume_monitor": False}
    cfg = Config(
        "BTCUSDT", parse_grid_config(strategy), parse_risk_config(risk), RULES, Fees(), fill
    )
    runs, cpu = [], []
    for _ in range(repeat):
        started = time.process_time()
        runs.append(replay(cfg, data))
        cpu.append(time.process_time() - started)
    times = [r.elapsed_s for r in runs]
    e, best, best_cpu = runs[0].engine, min(times), min(cpu)
    risk_label = "default risk" if monitor else "monitor off "
    print(
        f"{label} {risk_label}: {len(data) / best:>10,.0f} candles/s wall (spread "
        f"{max(times) / best:.2f}x), {len(data) / best_cpu:>10,.0f} candles/s CPU (spread "
        f"{max(cpu) / best_cpu:.2f}x)  {e.evaluations / best_cpu:>8,.0f} core evaluations/s "
        f"CPU  ({e.steps:,} points visited, {e.evaluations:,} evaluations "
        f"+ {e.trusted:,} confirmations skipped, "
        f"{e.venue.placed:,} orders placed, {len(e.fills):,} fills, {best_cpu:.2f}s CPU)",
        flush=True,
    )


def _cases(
    data: Series, where: str, intervals: list[str], modes: list[str], fill: FillMode, repeat: int
) -> None:
    for interval in intervals:
        for mode in modes:
            for monitor in (True, False):
                strategy: dict[str, object] = {
                    "mode": mode,
                    "interval": interval,
                    "order_qty": "0.01",
                }
                label = f"{where}{mode:8} interval {interval:>5}"
                _measure(data, label, strategy, monitor, fill, repeat)


def _end_to_end(path: str, repeat: int) -> None:
    command = [sys.executable, "-m", "mmtasks.cli", "replay", "--data", path]
    command += ["--interval", "1000", "--order-qty", "0.01"]
    print(" ".join(command[1:]))
    walls = []
    for _ in range(repeat):
        before = os.times()
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = os.times()
        user, system = (
            after.children_user - before.children_user,
            after.children_system - before.children_system,
        )
        print(f"{walls[-1]:.2f} s wall, {user:.2f} s user, {system:.2f} s system", flush=True)
    print(f"best {min(walls):.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s wall")


def _count(case: str, rows: int, base: bool) -> None:
    parts = case.split("-")
    mode = "neutral" if "neutral" in parts else "long"
    risk = {"enable_volume_monitor": False} if "off" in parts else {}
    fill: FillMode = "touch" if parts[0] == "sample" else "strict"
    if parts[0] == "sample":
        data, interval = load(SAMPLE).slice(0, rows), "10"
    else:
        data, interval = generate(rows, seed=1), parts[0].removeprefix("year")
    _floats(data)
    strategy = parse_grid_config({"mode": mode, "interval": interval, "order_qty": "0.01"})
    cfg = Config("BTCUSDT", strategy, parse_risk_config(risk), RULES, Fees(), fill)
    if base:
        return
    e = replay(cfg, data).engine
    p = e.grid.position
    print(f"{case} {rows} rows: {e.evaluations:,} evaluations, {len(e.fills):,} fills, ", end="")
    print(f"realized {p.realized_pnl}, fees {p.fees}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--intervals", default="1000,300,100", help="grid intervals on the generated year"
    )
    parser.add_argument(
        "--sample-intervals", default="10", help="grid intervals on the shipped sample"
    )
    parser.add_argument("--modes", default="long,neutral")
    parser.add_argument(
        "--end-to-end", metavar="FILE", help="time `mmtasks replay` on FILE from process start"
    )
    parser.add_argument("--count", nargs=2, metavar=("CASE", "ROWS"), help="one run, to count")
    parser.add_argument("--base", action="store_true", help="with --count: load only")
    args = parser.parse_args()
    if args.count:
        _count(args.count[0], int(args.count[1]), args.base)
        return
    if args.end_to_end:
        _end_to_end(args.end_to_end, args.repeat)
        return
    modes = args.modes.split(",")
    intervals = [i for i in args.intervals.split(",") if i]
    print(f"hot modules: {native.summary()}")
    if intervals:
        data = generate(args.days * 1440, seed=args.seed)
        _floats(data)
        close = data.floats("close")
        print(
            f"{len(data):,} generated 1m candles (seed {args.seed}), {data.close_text[0]} -> "
            f"{data.close_text[-1]}, range {close.min():,.0f} .. {close.max():,.0f}; best of "
            f"{args.repeat}"
        )
        _cases(data, "", intervals, modes, "strict", args.repeat)
    sample_intervals = [i for i in args.sample_intervals.split(",") if i]
    if sample_intervals:
        sample = load(SAMPLE)
        _floats(sample)
        print(f"{len(sample):,} 1m candles of {SAMPLE.name}, --fill touch; best of {args.repeat}")
        _cases(sample, "sample ", sample_intervals, modes, "touch", args.repeat)


if __name__ == "__main__":
    main()
