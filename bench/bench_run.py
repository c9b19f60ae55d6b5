"""Benchmark the fleet as a user starts it: `python -m mmtasks.run --symbols N`, then latency.

Starts `python -m mmtasks.run --symbols N` exactly as `make run ARGS="--symbols N"` does
(embedded Redis and Postgres under a scratch data dir unless REDIS_URL / DATABASE_URL are set;
the random-walk feed, bridge, symbol workers, control worker, beat, web, Flower), lets it warm
up, then reads every symbol's own tick-to-order and step histograms (the ones `/metrics`, the
dashboard and `mmtasks status` show) at the start and the end of a measuring window. The
difference is what the fleet did inside the window only (start-up excluded), merged over all
symbols; p50/p99 are interpolated inside the histogram's buckets, as Prometheus's
histogram_quantile does, so they are bounded by the buckets (…, 25, 50, 100, 250 ms, …).
Also prints the symbol workers' RSS and PSS, the machine's load, and where the CPU went in
the window: each part of the fleet (its processes and their children) in % of one core.

Usage: python bench/bench_run.py [--symbols 64] [--warmup-s 90] [--window-s 180]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402
from bench_bridge import cpu_seconds, memory_of  # noqa: E402

from mmtasks.metrics import SymbolMetrics, metrics_key, parse_metrics  # noqa: E402

SYMBOLS_KEY = "mm:symbols"


def snapshot(r: redis.Redis) -> dict[str, dict[str, str]]:
    """Return every fleet symbol's all-time metrics hash."""
    symbols = sorted(r.smembers(SYMBOLS_KEY))
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.hgetall(metrics_key(s))
    return dict(zip(symbols, pipe.execute(), strict=True))


def window(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> tuple[SymbolMetrics, list[float]]:
    """Return what happened between the two snapshots (all symbols' hashes, field by field
    after minus before, summed: metrics.parse_metrics reads it) and each symbol's t->o p99."""
    merged: dict[str, float] = {}
    p99s = []
    for symbol, fields in after.items():
        old = before.get(symbol, {})
        diff = {k: float(v) - float(old.get(k, 0) or 0) for k, v in fields.items()}
        for k, v in diff.items():
            merged[k] = merged.get(k, 0.0) + v
        p = parse_metrics(_as_text(diff)).tick_to_order.quantile(0.99)
        if p is not None:
            p99s.append(p)
    return parse_metrics(_as_text(merged)), sorted(p99s)


def _as_text(values: dict[str, float]) -> dict[str, str]:
    """Return figures as a metrics hash holds them (counters whole: parse_metrics int()s them)."""
    return {k: str(int(v)) if v.is_integer() else f"{v:.3f}" for k, v in values.items()}


PARTS = (  # (what a process's command line holds, the part it is), first match wins
    (b"-n symbols", "symbol workers"),
    (b"-Q control", "control worker"),
    (b"mmtasks beat", "beat"),
    (b"mmtasks flower", "flower"),
    (b"-m bridge", "bridge"),
    (b"-m mmtasks.connector", "connector"),
    (b"-m mmtasks.web", "web"),
    (b"redis-server", "redis"),
    (b"postgres", "postgres"),  # when embedded; a server outside the run is not counted
)


def tree(run_pid: int) -> dict[int, str]:
    """Return every process under run_pid (itself included) with the part it belongs to."""
    parts, todo = {}, [(run_pid, "runner")]
    while todo:
        pid, parent_part = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        part = next((name for key, name in PARTS if key in cmd), parent_part)
        parts[pid] = part
        todo += [(int(c), part) for c in children]
    return parts


def cpu_by_part(parts: dict[int, str]) -> dict[str, float]:
    """Return CPU seconds used so far by each part (processes gone meanwhile count 0)."""
    out: dict[str, float] = {}
    for pid, part in parts.items():
        try:
            out[part] = out.get(part, 0.0) + cpu_seconds(pid)
        except OSError:
            continue
    return out


def workers(run_pid: int) -> list[int]:
    """Return the pids of the run's symbol worker processes (`-n symbols<B>@...`)."""
    out, todo = [], [run_pid]
    while todo:
        pid = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
        if b"worker" in cmd and any(c.startswith(b"symbols") for c in cmd):
            out.append(pid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=64)
    parser.add_argument("--warmup-s", type=float, default=90.0)
    parser.add_argument("--window-s", type=float, default=180.0)
    parser.add_argument("--data-dir", default=None, help="default: a scratch directory")
    parser.add_argument("--extra", default="", help="more arguments for mmtasks.run")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-run-"))
    cmd = [sys.executable, "-m", "mmtasks.run", "--symbols", str(args.symbols)]
    cmd += ["--data-dir", str(data_dir), "--web-port", "0", *args.extra.split()]
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "run.out").open("w")
    run = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        services = data_dir / "services.json"
        deadline = time.monotonic() + 300
        while not services.exists():
            if run.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the fleet did not start; see {data_dir / 'run.out'}")
            time.sleep(0.5)
        url = json.loads(services.read_text())["REDIS_URL"]
        r = redis.Redis.from_url(url, decode_responses=True)
        print(f"fleet up ({args.symbols} symbols); warming up {args.warmup_s:.0f} s", flush=True)
        time.sleep(args.warmup_s)
        parts = tree(run.pid)
        cpu0 = cpu_by_part(parts)
        before, t0, load0 = snapshot(r), time.monotonic(), os.getloadavg()[0]
        time.sleep(args.window_s)
        after, t1, load1 = snapshot(r), time.monotonic(), os.getloadavg()[0]
        cpu1 = cpu_by_part(parts)
        pids = workers(run.pid)
        rss, pss = memory_of(pids)
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            run.kill()
    figures, p99s = window(before, after)
    t2o, step = figures.tick_to_order, figures.step
    within_100 = next(n for bound, n in t2o.buckets if bound == 100)
    print(
        f"make run --symbols {args.symbols} ({os.cpu_count()} cores), "
        f"window {t1 - t0:.0f} s after {args.warmup_s:.0f} s warm-up; load {load0:.1f}->{load1:.1f}"
    )
    print(
        f"  tick -> order (steps that placed): {t2o.count} observations, "
        f"p50 {t2o.quantile(0.5) or 0:.1f} ms, p99 {t2o.quantile(0.99) or 0:.1f} ms; "
        f"over 100 ms: {t2o.count - within_100}"
    )
    if p99s:
        print(f"  per-symbol p99: median {p99s[len(p99s) // 2]:.1f} ms, worst {p99s[-1]:.1f} ms")
    print(
        f"  step duration: {step.count} steps, p50 {step.quantile(0.5) or 0:.1f} ms, "
        f"p99 {step.quantile(0.99) or 0:.1f} ms"
    )
    print(f"  symbol worker processes: {len(pids)}; RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
    used = {part: (cpu1[part] - cpu0.get(part, 0.0)) / (t1 - t0) * 100 for part in cpu1}
    print(
        f"  CPU in the window, % of one core (all: {sum(used.values()):.0f} of "
        f"{100 * (os.cpu_count() or 1)}): "
        + ", ".join(f"{part} {pct:.0f}" for part, pct in sorted(used.items(), key=lambda x: -x[1]))
    )
    print(f"  clean exit: {run.returncode == 0} (code {run.returncode}); log {data_dir}/run.out")


if __name__ == "__main__":
    main()
