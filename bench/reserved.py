"""The start of a fleet benchmark: Redis and Postgres, migrated, and a Redis database of its own.

Run from a benchmark script (its directory is on sys.path, beside `bench_bridge`).
"""

from __future__ import annotations

import os
from pathlib import Path

import redis
from bench_bridge import reserve_redis_db

from mmtasks.embedded import Services, resolve_services
from mmtasks.registry.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    """Return the machine's cores and load average, for a benchmark's first line."""
    return f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}"


def reserved_services() -> tuple[Services, str, redis.Redis, str]:
    """Resolve Redis and Postgres (the environment, the local defaults or embedded), migrate the
    registry and reserve a free Redis database; return (services, its URL, admin, lock key).

    Delete the lock key with admin when done.
    """
    services = resolve_services(ROOT / ".data" / "bench", allow_local=True)
    redis_url, admin, lock = reserve_redis_db(services.redis_url)
    migrate(services.database_url)
    return services, redis_url, admin, lock
