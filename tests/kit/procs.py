"""Real processes for tests: one launcher, and the connector, Celery workers and the bridge.

Every process writes its output to a log under `.data/test-logs/` and is stopped with SIGTERM,
then SIGKILL if it overstays.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mmtasks.assign import THREADS
from tests.kit.poll import eventually

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / ".data" / "test-logs"
CONNECTOR_START_S = 20.0


def log_file(name: str) -> Path:
    """Return a fresh log path for a process called name."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"


def base_env(**extra: str) -> dict[str, str]:
    """Return this process's environment without CONNECTOR_TOKEN, plus extra."""
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_TOKEN"}
    return env | extra


class Proc:
    """A child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        inherit: bool = True,
    ) -> None:
        """Start argv; env goes over ours, or (inherit=False) is the whole environment."""
        self.log_path = log_file(name)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**os.environ, **(env or {})} if inherit else dict(env or {}),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout_s: float = 10) -> int:
        """Stop the process (SIGTERM, then SIGKILL) and return its exit code."""
        stop(self.proc, timeout_s)
        self._log.close()
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def python_says(code: str, *args: str, timeout_s: float = 60) -> str:
    """Run `python -c code args` in the project folder; return the last line it printed
    (fail with the end of its stderr when it exits with an error)."""
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip().splitlines()[-1]


def launch(name: str, *args: str, env: dict[str, str] | None = None, inherit: bool = True) -> Proc:
    """Start `python ARGS` in the project folder with env over ours; return the process."""
    return Proc(name, [sys.executable, *args], env, inherit=inherit)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """Stop proc with SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- the connector ------------------------------------------------------------------------------


def start_connector(
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    backend: Sequence[str] = ("--sim",),
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m mmtasks.connector --sim --port 0 ARGS`; return (process, "host:port").

    backend: what the connector serves (`--sim`, or `--venue binanceusdm --base-url URL`).

    env goes over ours (CONNECTOR_TOKEN removed unless env sets it). Returns once the port
    file is written, which the connector does when it listens and is SERVING.
    """
    workdir = Path(tempfile.mkdtemp(prefix="connector-"))
    port_file = workdir / "port"
    proc = launch(
        "connector",
        *("-m", "mmtasks.connector", *backend, "--port", "0", "--port-file", str(port_file)),
        *args,
        env=base_env(**(env or {})),
        inherit=False,
    )
    deadline = time.monotonic() + CONNECTOR_START_S
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(
                f"connector did not start (exit {proc.proc.returncode}):\n{proc.log_text()}"
            )
        time.sleep(0.02)
    return proc.proc, f"127.0.0.1:{int(port_file.read_text())}"


def stop_connector(proc: subprocess.Popen[bytes]) -> int:
    """Stop a connector started by start_connector; return its exit code."""
    stop(proc, timeout_s=5)
    return proc.returncode


@contextmanager
def connector(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the simulated connector with ARGS on an ephemeral port; yield its address."""
    proc, addr = start_connector(args, env)
    try:
        yield addr
    finally:
        stop_connector(proc)


@contextmanager
def binance_sim(*args: str) -> Iterator[str]:
    """Run `python -m mmtasks.sim.binance ARGS` on an ephemeral port; yield its base URL."""
    workdir = Path(tempfile.mkdtemp(prefix="binance-sim-"))
    port_file = workdir / "port"
    proc = launch(
        "binance-sim",
        *("-m", "mmtasks.sim.binance", "--port", "0", "--port-file", str(port_file), *args),
        env=base_env(),
        inherit=False,
    )
    try:
        eventually(
            lambda: (
                proc.proc.poll() is None
                and port_file.exists()
                and bool(port_file.read_text().strip())
            ),
            timeout_s=CONNECTOR_START_S,
        )
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        proc.stop()


@contextmanager
def venue_connector(
    exchange_id: str, base_url: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run the connector on a ccxt venue at base_url (the simulator's keys); yield its address."""
    keys = {
        "MMTASKS_VENUE_API_KEY": "mmtasks-sim-key",
        "MMTASKS_VENUE_API_SECRET": "mmtasks-sim-secret",
    }
    proc, addr = start_connector(
        args, {**keys, **(env or {})}, backend=("--venue", exchange_id, "--base-url", base_url)
    )
    try:
        yield addr
    finally:
        stop_connector(proc)


# -- Celery workers -----------------------------------------------------------------------------


class Worker(Proc):
    """A real `celery -A mmtasks worker` process consuming the given queues."""

    def __init__(
        self,
        queues: list[str],
        env: dict[str, str],
        name: str = "w",
        pool: str = "threads",
        concurrency: int = 0,
        include: Sequence[str] = (),
    ) -> None:
        # The production layout by default (mmtasks/assign.py): a pool of threads over the
        # queues; "prefork" and "solo" stay available to the tests that need one process a task.
        # include: modules of test-only tasks the worker also imports (`celery worker -I`).
        self.queues = queues
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns() % 100000}@test"
        threads = str(concurrency or (THREADS if pool == "threads" else 1))
        super().__init__(
            f"worker-{name}",
            [
                *(sys.executable, "-m", "celery", "-A", "mmtasks", "worker"),
                *("-Q", ",".join(queues), "-n", self.name, "--loglevel", "INFO"),
                *("--pool", pool, "--without-gossip", "--without-mingle", "-c", threads),
                *(("--include", ",".join(include)) if include else ()),
            ],
            env,
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (a crash, not a shutdown)."""
        if self.proc.poll() is None:
            children = subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            self.proc.kill()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 15) -> int:
        return super().stop(timeout_s)

    def answers(self) -> bool:
        """Return True when the process runs and answers a remote-control ping."""
        from mmtasks.celery import app

        assert self.proc.poll() is None, f"worker exited, see {self.log_path}"
        return bool(app.control.ping(destination=[self.name], timeout=0.5))

    def wait_ready(self, timeout_s: float = 60) -> Worker:
        """Return self once the worker answers a ping."""
        eventually(self.answers, timeout_s=timeout_s)
        return self


class Workers:
    """Start workers on one environment on demand; stop them all together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[Worker] = []

    def start(self, queues: list[str], env: dict[str, str] | None = None, **kw: str) -> Worker:
        """Start a worker on queues (env over the fleet's) and return it at once."""
        worker = Worker(queues, {**self.env, **(env or {})}, **kw)
        self.started.append(worker)
        return worker

    __call__ = start

    def stop_all(self) -> None:
        """Stop every worker: signal them all first so they shut down together."""
        for worker in self.started:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in self.started:
            worker.stop()
        self.started.clear()


# -- the bridge ---------------------------------------------------------------------------------


class BridgeProc(Proc):
    """A real `python -m bridge` process (resyncs and backs off quickly, for tests)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(
            "bridge",
            [sys.executable, "-m", "bridge", "--resync-s", "0.5", "--backoff-cap-s", "1", *args],
            env,
        )
