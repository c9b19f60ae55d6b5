"""The connections the web process reads from: Redis, the broker, Postgres and the workers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
import redis.asyncio as aioredis
from celery import Celery
from psycopg_pool import ConnectionPool

from mmtasks.registry.status import StatusReads, collect_status, listed_records
from mmtasks.registry.store import SymbolRecord
from mmtasks.settings import Settings
from mmtasks.web.config import WebSettings
from mmtasks.web.consumers import ConsumerWatch

ASYNC_CONNECTIONS = 64  # the async client's connections; a read past them waits for one
ASYNC_WAIT_S = 10.0  # at most (then it fails as Redis being down does)


def _async_client(url: str) -> aioredis.Redis:
    """Return the async client the feeds share. Every dashboard's price ticks go through it
    at once: a blocking pool makes a read past its connections wait for one, where redis-py's
    plain pool refuses its 101st caller at once (the events stream has its own reader:
    web/broadcast.py)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=ASYNC_CONNECTIONS, timeout=ASYNC_WAIT_S, decode_responses=True
    )
    return aioredis.Redis.from_pool(pool)  # closes the pool when it is closed


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Sources:
    """Everything the web process reads, opened once per process."""

    settings: Settings
    web: WebSettings
    redis: redis_lib.Redis
    aredis: aioredis.Redis
    broker: redis_lib.Redis | None
    pg: ConnectionPool
    consumers: ConsumerWatch

    @classmethod
    def open(cls, settings: Settings, web: WebSettings, app: Celery) -> Sources:
        """Open the connections (lazily: a dependency that is down is reported, not fatal)."""
        client = redis_lib.Redis.from_url(
            settings.redis_url, socket_timeout=5, decode_responses=True, health_check_interval=30
        )
        broker_url = settings.celery_broker_url
        if broker_url == settings.redis_url:
            broker: redis_lib.Redis | None = client
        elif broker_url.startswith(("redis://", "rediss://", "unix://")):
            broker = redis_lib.Redis.from_url(broker_url, socket_timeout=5, decode_responses=True)
        else:
            broker = None
        pool = ConnectionPool(
            settings.database_url,
            min_size=0,
            max_size=4,
            open=True,
            timeout=3,
            kwargs={"connect_timeout": 2, "autocommit": True},
        )
        watch = ConsumerWatch(app, web.consumers_every_s)
        watch.start()
        return cls(
            settings=settings,
            web=web,
            redis=client,
            aredis=_async_client(settings.redis_url),
            broker=broker,
            pg=pool,
            consumers=watch,
        )

    def close(self) -> None:
        self.consumers.stop()
        self.pg.close()
        if self.broker is not None and self.broker is not self.redis:
            self.broker.close()
        self.redis.close()

    def records(self) -> list[SymbolRecord]:
        """Return the registry rows the status task lists (`listed_records`)."""
        with self.pg.connection() as conn:
            return listed_records(conn, self.redis)

    def reads(self, now: int) -> StatusReads:
        """Return what a status entry reads, at now (ms)."""
        consumers = self.consumers.consumers
        return StatusReads(self.redis, self.broker, consumers, now, self.settings.min_hosts)

    def status(self) -> dict[str, Any]:
        """Return the fleet and per-symbol status, as the `status` admin task does."""
        result = collect_status(self.records(), self.reads(now_ms()))
        result["consumers_checked_ms"] = self.consumers.checked_ms
        return result
