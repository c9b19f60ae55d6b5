"""`python -m chaos`: break a private fleet on purpose and check every invariant after."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from chaos.fleet import ChaosFleet
from chaos.report import render, summarize
from chaos.scenarios import SCENARIOS, Context, Options, TrialResult, run_trial
from mmtasks.run.defaults import DEFAULT_CONFIG
from mmtasks.run.symbols import load_config

EPILOG = """\
scenarios:
{scenarios}

examples:
  python -m chaos --trials 2 --quick                    # every scenario, short faults
  python -m chaos --scenarios kill-worker,kill-bridge --trials 10
  python -m chaos --scenarios redis-restart --trials 3 --keep -v
  python -m chaos --list

Each scenario gets a fresh private fleet: its own redis-server and Postgres (pgserver) under a
temporary folder, the simulated connector, the bridge, one worker per symbol, the control worker
and beat. The developer's Redis and Postgres are never touched. After every trial the price feed
is paused, the fleet is left to settle, and the invariant checker runs. Exit code 0 when every
invariant held in every trial, 1 otherwise. How to read the table: docs/chaos.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    listing = "\n".join(f"  {name:<22} {fn.__doc__ or ''}" for name, fn in SCENARIOS.items())
    p = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Run fault scenarios against a private mmtasks fleet and print, per "
        "scenario: duplicate client ids, missing and extra fills, position and PnL "
        "mismatches, orphan orders, missing or duplicated events, time to trading again.",
        epilog=EPILOG.format(scenarios=listing),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--trials", type=int, default=10, help="trials per scenario (default 10)")
    p.add_argument(
        "--scenarios",
        default="all",
        help="comma-separated scenario names, or 'all' (default); see the list below",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short faults: 8 s freeze, 10 s Postgres outage, 6 s latency, 200 admin calls, "
        "100 malformed messages, 3 s kill window (instead of 30 s, 60 s, 10 s, 1000, 500, 8 s)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="symbols YAML (default %(default)s)",
    )
    p.add_argument("--symbols", default="", help="subset of the config's symbols (default all)")
    p.add_argument("--tick-ms", type=int, default=200, help="price feed period in ms (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the faults (default 0)")
    p.add_argument("--settle-s", type=float, help="longest wait for a quiet fleet per trial")
    p.add_argument("--recover-s", type=float, help="longest wait for trading again per trial")
    p.add_argument("--freeze-s", type=float, help="connector SIGSTOP duration")
    p.add_argument("--postgres-down-s", type=float, help="Postgres outage duration")
    p.add_argument("--admin-calls", type=int, help="hostile admin calls per trial")
    p.add_argument("--bad-messages", type=int, help="malformed symbol-queue messages per trial")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="where fleets keep servers and logs (default: a new temporary folder)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    p.add_argument("--json", type=Path, help="also write every trial's findings to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="print every problem found")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p


def options_of(args: argparse.Namespace) -> Options:
    """Return the scenario options the arguments ask for."""
    opts = Options.quick() if args.quick else Options()
    overrides = {
        "settle_s": args.settle_s,
        "recover_s": args.recover_s,
        "freeze_s": args.freeze_s,
        "postgres_down_s": args.postgres_down_s,
        "admin_calls": args.admin_calls,
        "bad_messages": args.bad_messages,
    }
    return replace(opts, **{k: v for k, v in overrides.items() if v is not None})


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_scenario(
    name: str, args: argparse.Namespace, opts: Options, symbols: list[str], root: Path
) -> list[TrialResult]:
    """Start a fresh fleet, run the scenario's trials in it, stop the fleet."""
    fleet = ChaosFleet(root / name, args.config, symbols, args.tick_ms, keep=args.keep)
    log(f"{name}: starting a private fleet under {fleet.data_dir}")
    results: list[TrialResult] = []
    try:
        fleet.start()
        ctx = Context(fleet, opts, random.Random(f"{args.seed}:{name}"), log)
        for trial in range(1, args.trials + 1):
            started = time.monotonic()
            result = run_trial(ctx, name)
            results.append(result)
            problems = [p for r in result.reports for p in r.problems()]
            again = ", ".join(
                f"{s} {'never' if v is None else f'{v:.1f}s'}" for s, v in result.recovery_s.items()
            )
            log(
                f"{name} trial {trial}/{args.trials}: {len(problems)} problems, "
                f"{'settled' if result.settled else f'NOT settled {result.unsettled}'}, "
                f"trading again: {again} ({time.monotonic() - started:.0f}s)"
            )
            for line in result.notes + (problems if args.verbose else problems[:3]):
                log(f"  {line}")
    except Exception as exc:  # one broken scenario must not hide the others' results
        log(f"{name}: aborted: {type(exc).__name__}: {exc}")
    finally:
        fleet.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios and print the table; 1 when any invariant broke."""
    args = build_parser().parse_args(argv)
    if args.list:
        for name, fn in SCENARIOS.items():
            print(f"{name:<22} {fn.__doc__ or ''}")
        return 0
    names = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    opts = options_of(args)
    symbols = list(load_config(args.config, args.symbols))
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="mmtasks-chaos-"))
    rows, everything = [], {}
    for name in names:
        results = run_scenario(name, args, opts, symbols, root)
        everything[name] = results
        if results:
            rows.append(summarize(name, results))
    print(render(rows))
    if args.json:
        args.json.write_text(
            json.dumps(
                {k: [asdict(t) for t in v] for k, v in everything.items()}, default=str, indent=1
            )
        )
    complete = len(rows) == len(names) and all(len(everything[n]) == args.trials for n in names)
    return 0 if complete and all(row.clean for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
