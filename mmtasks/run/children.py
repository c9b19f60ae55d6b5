"""The fleet's processes: each child in its own process group, with its log, stopped as one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmtasks.assign import THREADS, bucket_of, node_name, worker_argv
from mmtasks.domain import queue_for
from mmtasks.run.defaults import (
    CELERY,
    DEFAULT_WEB_PORT,
    RESTARTS_PER_MINUTE,
    STOP_GRACE_S,
)
from mmtasks.settings import Settings


@dataclass
class Child:
    """A child process of the runner, alone in its process group."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    cmd: tuple[str, ...] = ()
    # False for a child others found by the port it picked (the connector, a simulator): it
    # cannot be started again at the same address, and its exit stops the fleet.
    restartable: bool = True
    exits: list[float] = field(default_factory=list)  # when it exited and was started again

    def alive(self) -> bool:
        return self.proc.poll() is None


class Fleet:
    """Start children and stop them all, whatever happens."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, *cmd: str, restartable: bool = True) -> Child:
        """Start cmd as child `name` in a new process group, logging to logs/<name>.log."""
        log_path = self.log_dir / f"{name}.log"
        child = Child(name, self._popen(cmd, log_path), log_path, cmd, restartable)
        self.children.append(child)
        return child

    def _popen(self, cmd: tuple[str, ...], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            # A new session: the terminal's Ctrl-C reaches the runner only, which then stops
            # children in order (bridge first, so it can flush) instead of all at once.
            return subprocess.Popen(
                list(cmd),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def revive(self, child: Child, now: float | None = None) -> str | None:
        """Start a child that exited on its own again, with its command and log; return what
        to tell the operator, or None when it must not be: it cannot be (`restartable`), or it
        exited more than RESTARTS_PER_MINUTE times in a minute (a crash loop). A symbol worker
        started again reconciles its symbols with the venue first (tasks/symbol.py)."""
        now = time.monotonic() if now is None else now
        child.exits = [t for t in child.exits if now - t < 60.0] + [now]
        if not child.restartable or len(child.exits) > RESTARTS_PER_MINUTE:
            return None
        code = child.proc.returncode
        _signal_group(child, signal.SIGKILL)  # what it left behind in its group
        child.proc = self._popen(child.cmd, child.log_path)
        return (
            f"{child.name} exited with {code}: started again "
            f"({len(child.exits)} in the last minute; see {child.log_path})"
        )

    def stop(self) -> None:
        """SIGTERM every child group (last started first), then SIGKILL what is left."""
        for child in reversed(self.children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{child.name} did not stop in time: killing it", file=sys.stderr)
        for child in self.children:
            _signal_group(child, signal.SIGKILL)  # stragglers, pool children included
            child.proc.wait()

    def stop_child(self, child: Child) -> None:
        """Stop one child (SIGTERM, then SIGKILL after the grace period) and forget it."""
        _signal_group(child, signal.SIGTERM)
        try:
            child.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop in time: killing it", file=sys.stderr)
        _signal_group(child, signal.SIGKILL)
        child.proc.wait()
        self.children.remove(child)

    def failed(self) -> list[Child]:
        """Return the children that exited on their own."""
        return [c for c in self.children if not c.alive()]


class Workers:
    """The symbol workers: a few processes, each a pool of threads over its symbols' queues.

    Which process takes which symbol is `mmtasks/assign.py`'s (a stable hash over `buckets`
    processes, fixed for the run). A symbol added while the fleet runs (`mmtasks add`) is
    attached to its process's running worker (`add_consumer`, confirmed; the worker restarted
    with its new queues when it does not confirm). A removed one is detached once it has
    cancelled its orders: its worker then takes it out of the fleet set (`mm:symbols`);
    until then it stays consumed, however long the venue takes.
    """

    def __init__(
        self, fleet: Fleet, settings: Settings, buckets: int, threads: int = THREADS
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.buckets = buckets
        self.threads = threads
        self.by_bucket: dict[int, Child] = {}
        self.queues: dict[int, set[str]] = {b: set() for b in range(buckets)}
        self._app: Any = None

    @property
    def symbols(self) -> list[str]:
        return sorted(q.upper() for queues in self.queues.values() for q in queues)

    def start_all(self, symbols: list[str]) -> None:
        """Start every bucket's worker with its symbols' queues."""
        for symbol in symbols:
            self.queues[bucket_of(symbol, self.buckets)].add(queue_for(symbol))
        for bucket in range(self.buckets):
            self._spawn(bucket)

    def _spawn(self, bucket: int) -> None:
        argv = worker_argv(bucket, sorted(self.queues[bucket]), self.threads)
        self.by_bucket[bucket] = self.fleet.spawn(f"worker-{node_name(bucket)}", *CELERY, *argv)

    def as_now(self, child: Child) -> None:
        """Give child, if it is a symbol worker, the command of its queues as they are now (a
        symbol attached while it ran is in them), for `Fleet.revive`."""
        for bucket, mine in self.by_bucket.items():
            if mine is child:
                argv = worker_argv(bucket, sorted(self.queues[bucket]), self.threads)
                child.cmd = (*CELERY, *argv)

    def _restart(self, bucket: int) -> None:
        old = self.by_bucket.pop(bucket)
        self.fleet.stop_child(old)
        self._spawn(bucket)
        self.by_bucket[bucket].exits = old.exits  # a crash loop still counts as one

    def _confirmed(self, attach: bool, bucket: int, queue: str) -> bool:
        """Ask bucket's worker to start (attach) or stop consuming queue; True if it confirmed."""
        from mmtasks.errors import TemporaryError
        from mmtasks.registry import workers

        if self._app is None:
            from mmtasks.celery import make_app

            self._app = make_app(self.settings)
        node = f"{node_name(bucket)}@{socket.gethostname()}"
        try:
            (workers.attach if attach else workers.detach)(self._app, queue, node)
        except TemporaryError:
            return False
        return True

    def sync(self, wanted: set[str], done: set[str]) -> list[str]:
        """Attach new symbols, detach the removed ones out of the fleet set (`done`: their
        orders are all cancelled); return what changed."""
        changes = []
        for symbol in sorted(wanted - set(self.symbols)):
            bucket, queue = bucket_of(symbol, self.buckets), queue_for(symbol)
            self.queues[bucket].add(queue)
            if self._confirmed(True, bucket, queue):
                changes.append(f"{symbol} attached to {node_name(bucket)}")
            else:
                self._restart(bucket)
                changes.append(f"{symbol}: {node_name(bucket)} restarted with it")
        for symbol in sorted((set(self.symbols) - wanted) & done):
            bucket, queue = bucket_of(symbol, self.buckets), queue_for(symbol)
            self.queues[bucket].discard(queue)
            if not self._confirmed(False, bucket, queue):
                self._restart(bucket)
            changes.append(f"{symbol} detached from {node_name(bucket)} (removed)")
        return changes


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(child.proc.pid, sig)


def start_connector(
    fleet: Fleet, symbols: list[str], tick_ms: int, data_dir: Path, venue: str | None = None
) -> str:
    """Start the connector on a free port; return its address once it serves.

    venue None: the gRPC simulator. Else the Binance-speaking simulator on a free port, and the
    real-venue connector (ccxt) on it, with the simulator's keys.
    """
    feed = ("--feed", "random", "--tick-ms", str(tick_ms), "--symbols", ",".join(symbols))
    if venue is None:
        backend: tuple[str, ...] = ("--sim", *feed)
    else:
        sim_port = _spawn_and_wait(
            fleet, "binance-sim", data_dir, ("-m", "mmtasks.sim.binance", *feed)
        )
        base = f"http://127.0.0.1:{sim_port}"
        print(f"binance  {base} (the Binance-speaking simulator)", flush=True)
        fleet.env.setdefault("MMTASKS_VENUE_API_KEY", "mmtasks-sim-key")
        fleet.env.setdefault("MMTASKS_VENUE_API_SECRET", "mmtasks-sim-secret")
        backend = ("--venue", venue, "--base-url", base, "--symbols", ",".join(symbols))
    port = _spawn_and_wait(fleet, "connector", data_dir, ("-m", "mmtasks.connector", *backend))
    return f"127.0.0.1:{port}"


def _spawn_and_wait(fleet: Fleet, name: str, data_dir: Path, args: tuple[str, ...]) -> str:
    """Start `python ARGS --port 0 --port-file F`; return the port once it is written."""
    port_file = data_dir / f"{name}.port"
    port_file.unlink(missing_ok=True)
    cmd = (sys.executable, *args, "--port", "0", "--port-file", str(port_file))
    child = fleet.spawn(name, *cmd, restartable=False)
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if not child.alive() or time.monotonic() > deadline:
            raise SystemExit(f"the {name} did not start; see {child.log_path}")
        time.sleep(0.05)
    return port_file.read_text().strip()


def start_fleet(fleet: Fleet, workers: Workers, symbols: list[str], data_dir: Path) -> None:
    """Start the symbol workers, the control worker, beat and the bridge.

    The bridge reads the registry (and its NOTIFY channel), so it streams a symbol added later.
    """
    workers.start_all(symbols)
    fleet.spawn(
        "control",
        *CELERY,
        "worker",
        "-Q",
        "control",
        "-n",
        "control@%h",
        "-c",
        "2",
        "-E",
        "--loglevel",
        "INFO",
    )
    fleet.spawn(
        "beat", *CELERY, "beat", "--loglevel", "INFO", "-s", str(data_dir / "celerybeat-schedule")
    )
    fleet.spawn("bridge", sys.executable, "-m", "bridge")


def web_port(asked: int | None) -> int:
    """Return the dashboard's port: the one asked for (0: any), else 8000 unless it is taken.

    A port asked for explicitly and taken is refused here, before anything starts, rather than
    by the web process dying a second later and taking the fleet with it.
    """
    from mmtasks.embedded import free_port

    if asked == 0:
        return free_port()
    port = DEFAULT_WEB_PORT if asked is None else asked
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
    if asked is not None:
        raise SystemExit(
            f"--web-port {port}: the port is taken; pick another, or 0 for any free one"
        )
    fallback = free_port()
    print(f"port {port} is taken: the dashboard uses {fallback}", flush=True)
    return fallback


def start_web(fleet: Fleet, port: int) -> tuple[str, str]:
    """Start the read-only web process and Flower on loopback; return their URLs."""
    from mmtasks.embedded import free_port

    fleet.spawn(
        "web", sys.executable, "-m", "mmtasks.web", "--host", "127.0.0.1", "--port", str(port)
    )
    flower_port = free_port()
    fleet.spawn(
        "flower",
        sys.executable,
        "-m",
        "celery",
        "-A",
        "mmtasks",
        "flower",
        "--address=127.0.0.1",
        f"--port={flower_port}",
        "--enable_events=False",  # symbol workers send none (docs/operations.md)
    )
    return f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{flower_port}/"
