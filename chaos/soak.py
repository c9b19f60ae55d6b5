"""`python -m chaos.soak` (`make soak`): does a fleet stay flat in memory over a long run?

A private fleet (its own redis-server and Postgres, the simulated connector, the bridge, one
threaded worker for every symbol as in production, the control worker and beat) trades under a
feed `--speed` times faster than the default (a tick every 200 ms / speed). Every minute the
PSS of each process and Redis `used_memory` are sampled. At the end:

- the growth per hour of each process and of Redis, from a least-squares line over the second
  half of the run (the first half is warm-up: caches fill, the retention caps are reached);
  the run fails when one of mmtasks' processes or Redis' used_memory grows faster than
  `--bound-mib-per-hour` (Postgres is shown, not bounded: its cache is bounded by its own
  shared_buffers and the ledger grows on purpose);
- Redis per symbol: MEMORY USAGE of every key of each symbol's hash tag, and the fleet-wide
  keys; the inbox and event-stream entries added (what the old caps would have held);
- the invariant checker (feed paused, fleet settled);
- one symbol removed with `remove_symbol`: its keys counted once its grace period passed;
- a picture (soak.png) and the samples (soak.csv) in --out.

Exit code 0 when everything held, 1 otherwise. docs/operations.md ("Redis memory") explains it.
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from chaos.fleet import ChaosFleet
from mmtasks.audit.invariants import check, oldest_trade_ms
from mmtasks.audit.settle import wait_settled
from mmtasks.run.defaults import DEFAULT_CONFIG
from mmtasks.run.symbols import load_config
from mmtasks.state.keys import EVENTS, EVENTS_RELAYED, keys_for
from mmtasks.state.retention import tag_keys

DEFAULT_TICK_MS = 200
GRACE_S = 30  # a removed symbol's keys stay this long in the soak (production: an hour)
BOUNDED = ("connector", "worker-symbols0", "control", "beat", "bridge", "redis used_memory")
MIB = 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m chaos.soak",
        description="Run a private fleet under an accelerated feed; sample every process's "
        "PSS and Redis used_memory each minute; fit the growth per hour after warm-up; check "
        "the invariants and a removed symbol's keys at the end.",
        epilog="example: make soak ARGS='--minutes 60 --speed 10 --symbols 8'",
    )
    p.add_argument("--minutes", type=float, default=60, help="length of the run (default 60)")
    p.add_argument("--speed", type=float, default=10, help="feed speed-up (default 10)")
    p.add_argument("--symbols", type=int, default=8, help="symbols traded (default 8)")
    p.add_argument("--sample-s", type=float, default=60, help="sampling period (default 60)")
    p.add_argument(
        "--bound-mib-per-hour",
        type=float,
        default=5.0,
        help="largest growth per hour allowed after warm-up (default 5)",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="symbols YAML")
    p.add_argument("--out", type=Path, default=Path(".data/soak"), help="picture and samples")
    p.add_argument("--keep", action="store_true", help="keep the fleet's data folder")
    return p


def pss_mib(pid: int) -> float:
    """Return the PSS of pid and its descendants in MiB (Linux smaps_rollup)."""
    seen, todo, kib = set(), [pid], 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kib += int(line.split()[1])
        except OSError:
            continue
    return kib / 1024


def processes(fleet: ChaosFleet) -> dict[str, int]:
    """Return name -> pid of every process the soak samples."""
    out = {name: child.proc.pid for name, child in fleet.children.items()}
    if fleet.redis_server is not None and fleet.redis_server.proc is not None:
        out["redis-server"] = fleet.redis_server.proc.pid
    pidfile = fleet.data_dir / "postgres" / "postmaster.pid"
    if pidfile.exists():
        out["postgres"] = int(pidfile.read_text().split()[0])
    return out


def sample(fleet: ChaosFleet, started: float) -> dict[str, float]:
    """Return one row: minutes since start, PSS (MiB) of every process, Redis used_memory."""
    row = {"minute": (time.monotonic() - started) / 60}
    for name, pid in processes(fleet).items():
        row[name] = pss_mib(pid)
    row["redis used_memory"] = int(fleet.redis().info("memory")["used_memory"]) / MIB
    return row


def growth_per_hour(rows: list[dict[str, float]], name: str) -> float:
    """Return the slope (MiB per hour) of a least-squares line over the second half."""
    import numpy as np

    half = [r for r in rows if r["minute"] >= rows[-1]["minute"] / 2 and name in r]
    if len(half) < 2:
        return 0.0
    hours = np.array([r["minute"] / 60 for r in half])
    values = np.array([r[name] for r in half])
    return float(np.polyfit(hours, values, 1)[0])


def redis_by_symbol(fleet: ChaosFleet) -> tuple[dict[str, int], int]:
    """Return bytes per symbol (MEMORY USAGE of its tag's keys) and of every other key."""
    r = fleet.redis()
    per_symbol = {
        s: sum(int(r.memory_usage(k, samples=0) or 0) for k in tag_keys(r, s))
        for s in fleet.symbols
    }
    everything = sum(int(r.memory_usage(k, samples=0) or 0) for k in r.scan_iter(count=1000))
    return per_symbol, everything - sum(per_symbol.values())


def entries_added(fleet: ChaosFleet) -> tuple[int, int]:
    """Return the most inbox entries one symbol was ever given (its seq) and the events ever
    relayed to mm:events (the relay's cursors): what count caps would have had to hold."""
    r = fleet.redis()
    inbox = max(int(r.get(keys_for(s).seq) or 0) for s in fleet.symbols)
    return inbox, sum(int(v) for v in r.hvals(EVENTS_RELAYED))


def picture(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Draw PSS per process and Redis used_memory over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    minutes = [r["minute"] for r in rows]
    for name in rows[0]:
        if name in ("minute", "redis used_memory"):
            continue
        top.plot(minutes, [r.get(name, float("nan")) for r in rows], label=name)
    top.set_ylabel("PSS (MiB)")
    top.legend(loc="upper left", fontsize=8, ncol=2)
    top.grid(alpha=0.3)
    bottom.plot(minutes, [r["redis used_memory"] for r in rows], color="crimson")
    bottom.set_ylabel("Redis used_memory (MiB)")
    bottom.set_xlabel("minutes")
    bottom.grid(alpha=0.3)
    for axis in (top, bottom):
        axis.axvspan(0, minutes[-1] / 2, color="grey", alpha=0.08)
    top.set_title(title + "  (shaded: warm-up, not fitted)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, str(args.symbols))
    symbols = list(config)
    tick_ms = max(1, round(DEFAULT_TICK_MS / args.speed))
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="mmtasks-soak-"))
    fleet = ChaosFleet(
        data_dir,
        args.config,
        symbols,
        tick_ms,
        keep=args.keep,
        config=config,
        one_worker=True,
        extra_env={"MMTASKS_REMOVED_GRACE_S": str(GRACE_S)},
    )
    print(f"soak: {len(symbols)} symbols, a tick every {tick_ms} ms, {args.minutes:g} min; ")
    print(f"      fleet in {data_dir}; picture and samples in {args.out}", flush=True)
    fleet.start()
    failures: list[str] = []
    try:
        rows = _run_for(fleet, args)
        failures += _report_growth(rows, args)
        picture(rows, args.out / "soak.png", f"{len(symbols)} symbols at {args.speed:g}x")
        _write_csv(rows, args.out / "soak.csv")
        failures += _report_redis(fleet)
        failures += _check_invariants(fleet)
        failures += _remove_one(fleet)
    finally:
        fleet.stop()
    print("\nsoak: " + ("PASSED" if not failures else "FAILED:\n  " + "\n  ".join(failures)))
    return 0 if not failures else 1


def _run_for(fleet: ChaosFleet, args: argparse.Namespace) -> list[dict[str, float]]:
    started = time.monotonic()
    end = started + args.minutes * 60
    rows: list[dict[str, float]] = []
    while True:
        row = sample(fleet, started)
        rows.append(row)
        dead = fleet.dead()
        mine = sum(v for k, v in row.items() if k in BOUNDED and k != "redis used_memory")
        print(
            f"  {row['minute']:6.1f}/{args.minutes:g} min  processes {mine:7.1f} MiB  "
            f"redis {row['redis used_memory']:6.1f} MiB" + (f"  DEAD: {dead}" if dead else ""),
            flush=True,
        )
        if time.monotonic() >= end:
            return rows
        time.sleep(max(0.0, min(args.sample_s, end - time.monotonic())))


def _report_growth(rows: list[dict[str, float]], args: argparse.Namespace) -> list[str]:
    print(f"\ngrowth per hour after warm-up (fit over minutes {rows[-1]['minute'] / 2:.0f}+):")
    print(f"  {'process':<22}{'first':>9}{'last':>9}{'MiB/hour':>10}  bound")
    failures = []
    for name in rows[0]:
        if name == "minute":
            continue
        slope = growth_per_hour(rows, name)
        bounded = name in BOUNDED
        verdict = "" if not bounded else ("ok" if slope <= args.bound_mib_per_hour else "OVER")
        print(
            f"  {name:<22}{rows[0][name]:9.1f}{rows[-1].get(name, 0):9.1f}{slope:10.2f}  "
            + (f"<= {args.bound_mib_per_hour:g} {verdict}" if bounded else "(not bounded)")
        )
        if bounded and slope > args.bound_mib_per_hour:
            failures.append(f"{name} grows {slope:.2f} MiB/hour after warm-up")
    return failures


def _write_csv(rows: list[dict[str, float]], path: Path) -> None:
    names = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def _report_redis(fleet: ChaosFleet) -> list[str]:
    per_symbol, fleet_wide = redis_by_symbol(fleet)
    used = int(fleet.redis().info("memory")["used_memory"])
    inbox_added, events_added = entries_added(fleet)
    n = len(per_symbol)
    average = sum(per_symbol.values()) / n
    print("\nRedis at the end of the run:")
    print(f"  used_memory {used / MIB:.2f} MiB = {used / n / 1e6:.2f} MB per symbol, all in")
    print(
        f"  per symbol (its tag's keys): average {average / 1e6:.3f} MB, "
        f"largest {max(per_symbol.values()) / 1e6:.3f} MB"
    )
    print(f"  fleet-wide keys (mm:events, Celery, risk...): {fleet_wide / 1e6:.3f} MB")
    print(
        f"  entries ever added: inbox up to {inbox_added:,} per symbol (kept now: "
        f"{max(int(fleet.redis().xlen(keys_for(s).inbox)) for s in fleet.symbols):,}), "
        f"mm:events {events_added:,} (kept {int(fleet.redis().xlen(EVENTS)):,})"
    )
    if used / n > 2e6:
        return [f"Redis used_memory {used / n / 1e6:.2f} MB per symbol, above 2 MB"]
    return []


def _check_invariants(fleet: ChaosFleet) -> list[str]:
    sim, exchange, r = fleet.sim(), fleet.exchange(timeout_s=30), fleet.redis()
    sim.set_feed(paused=True)
    settled = wait_settled(r, fleet.symbols, exchange=exchange, timeout_s=120, quiet_s=2.0)
    assert fleet.settings is not None
    reports = check(
        exchange,
        r,
        fleet.settings.database_url,
        fleet.symbols,
        exchange_since_ms=oldest_trade_ms(exchange),
    )
    problems = [p for report in reports for p in report.problems()]
    with psycopg.connect(fleet.settings.database_url) as conn:
        fills = int(conn.execute("SELECT count(*) FROM fills").fetchone()[0])  # type: ignore[index]
    forgotten = sum(report.not_compared for report in reports)
    print(
        f"\ninvariants: {'held' if not problems else 'BROKEN'} on {len(reports)} symbols, "
        f"{fills:,} ledger fills ({forgotten:,} older than the simulator's kept history)"
        + ("" if settled.settled else f"; not settled: {settled.unsettled}")
    )
    for line in problems[:20]:
        print("  " + line)
    return problems[:20] + ([] if settled.settled else [f"not settled: {settled.unsettled}"])


def _remove_one(fleet: ChaosFleet) -> list[str]:
    symbol = fleet.symbols[-1]
    r = fleet.redis()
    before = len(tag_keys(r, symbol))
    result = fleet.app.send_task(
        "mmtasks.admin.remove_symbol", kwargs={"symbol": symbol, "force": True}
    ).get(timeout=60)
    if not result.get("ok"):
        return [f"remove_symbol {symbol} refused: {result}"]
    started = time.monotonic()
    while tag_keys(r, symbol) and time.monotonic() - started < GRACE_S + 120:
        time.sleep(1)
    left = len(tag_keys(r, symbol))
    print(
        f"\nremoved {symbol} (forced): {before} keys of its tag before, {left} after its "
        f"{GRACE_S} s grace period ({time.monotonic() - started:.0f} s)"
    )
    return [f"{symbol}: {left} keys left after its grace period"] if left else []


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the private fleet is stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
