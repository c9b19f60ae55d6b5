"""What an admin operation works with: this process's connections, the Celery app, the task id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis as redis_lib
from celery import Celery

from mmtasks.runtime import Runtime


@dataclass
class AdminContext:
    """One admin call: connections come from the process runtime, writes are attributed."""

    rt: Runtime
    app: Celery
    task_id: str

    @property
    def issued_by(self) -> str:
        """Return who the symbol's commands and events name as their origin."""
        return f"admin:{self.task_id}"

    @property
    def redis(self) -> redis_lib.Redis:
        return self.rt.redis

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """Yield a pooled connection inside one transaction, committed on a clean exit."""
        with self.rt.pg.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def broker(self) -> Iterator[redis_lib.Redis | None]:
        """Yield a client on the broker's Redis (None for a broker that is not Redis)."""
        url = str(self.app.conf.broker_url or "")
        if url == self.rt.settings.redis_url:
            yield self.rt.redis
            return
        if not url.startswith(("redis://", "rediss://", "unix://")):
            yield None
            return
        client = redis_lib.Redis.from_url(url, socket_timeout=5)
        try:
            yield client
        finally:
            client.close()
