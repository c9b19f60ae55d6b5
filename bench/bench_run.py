"""Benchmark the fleet as a user starts it: `python -m mmtasks.run --symbols N`, then latency.

Starts `python -m mmtasks.run --symbols N` exactly as `make run ARGS="--symbols N"` does
(embedded Redis and Postgres under a scratch data dir unless REDIS_URL / DATABASE_URL are set;
the random-walk feed, bridge, symbol workers, control worker, beat, web, Flower), lets it warm
up, then reads every symbol's own tick-to-order and step histograms (the ones `/metrics`, the
dashboard and `mmtasks status` show) at the start and the end of a measuring window. The
difference is what the fleet did inside the window only (start-up excluded), merged over all
symbols; p50/p99 are interpolated inside the histogram's buckets, as Prometheus's
histogram_quantile does, so they are bounded by the buckets (…, 25, 50, 100, 250 ms, …).
Also prints the symbol workers' RSS and PSS, orders placed and the machine's load.

Usage: python bench/bench_run.py [--symbols 64] [--warmup-s 90] [--window-s 180]
"""

from __future__ import annotations

import argparse
import json
import math
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
from bench_bridge import memory_of  # noqa: E402

from mmtasks.metrics import BUCKETS_MS, STEP, TICK_TO_ORDER, metrics_key  # noqa: E402

SYMBOLS_KEY = "mm:symbols"


def _counts(fields: dict[str, str], name: str) -> list[float]:
    """Return the per-bucket (not cumulative) counts of histogram name, +Inf last."""
    bounds = [f"{b:g}" for b in BUCKETS_MS] + ["inf"]
    return [float(fields.get(f"{name}_le_{b}", 0) or 0) for b in bounds]


def quantile(counts: list[float], q: float) -> float | None:
    """Return the q-quantile of bucket counts, linear inside a bucket (histogram_quantile)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, n in zip((*BUCKETS_MS, math.inf), counts, strict=True):
        if below + n >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / n if n else 1.0)
        lower, below = bound, below + n
    return lower


def snapshot(r: redis.Redis) -> dict[str, dict[str, str]]:
    """Return every fleet symbol's all-time metrics hash."""
    symbols = sorted(r.smembers(SYMBOLS_KEY))
    pipe = r.pipeline(transaction=False)
    for s in symbols:
        pipe.hgetall(metrics_key(s))
    return dict(zip(symbols, pipe.execute(), strict=True))


def window(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], name: str):  # type: ignore[no-untyped-def]
    """Return (merged bucket counts, per-symbol p99 list) of what happened between the two."""
    merged = [0.0] * (len(BUCKETS_MS) + 1)
    p99s = []
    for symbol, fields in after.items():
        old = _counts(before.get(symbol, {}), name)
        new = [a - b for a, b in zip(_counts(fields, name), old, strict=True)]
        merged = [m + n for m, n in zip(merged, new, strict=True)]
        p = quantile(new, 0.99)
        if p is not None:
            p99s.append(p)
    return merged, sorted(p99s)


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
        before, t0, load0 = snapshot(r), time.monotonic(), os.getloadavg()[0]
        time.sleep(args.window_s)
        after, t1, load1 = snapshot(r), time.monotonic(), os.getloadavg()[0]
        pids = workers(run.pid)
        rss, pss = memory_of(pids)
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            run.kill()
    t2o, p99s = window(before, after, TICK_TO_ORDER)
    step, _ = window(before, after, STEP)
    n = sum(t2o)
    print(
        f"make run --symbols {args.symbols} ({os.cpu_count()} cores), "
        f"window {t1 - t0:.0f} s after {args.warmup_s:.0f} s warm-up; load {load0:.1f}->{load1:.1f}"
    )
    print(
        f"  tick -> order (steps that placed): {n:.0f} observations, "
        f"p50 {quantile(t2o, 0.5) or 0:.1f} ms, p99 {quantile(t2o, 0.99) or 0:.1f} ms; "
        f"over 100 ms: {sum(t2o[BUCKETS_MS.index(100) + 1 :]):.0f}"
    )
    if p99s:
        print(f"  per-symbol p99: median {p99s[len(p99s) // 2]:.1f} ms, worst {p99s[-1]:.1f} ms")
    print(
        f"  step duration: {sum(step):.0f} steps, p50 {quantile(step, 0.5) or 0:.1f} ms, "
        f"p99 {quantile(step, 0.99) or 0:.1f} ms"
    )
    print(f"  symbol worker processes: {len(pids)}; RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
    print(f"  clean exit: {run.returncode == 0} (code {run.returncode}); log {data_dir}/run.out")


if __name__ == "__main__":
    main()
