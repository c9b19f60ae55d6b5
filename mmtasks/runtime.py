"""Per-process resources (Redis, the venue, Postgres pool), created lazily after fork.

A worker process runs its tasks on a pool of threads (mmtasks/assign.py): every resource is
created once, under a lock. Two threads racing to create the Redis client would otherwise each
make one, and the loser's client, dropped, closes its pool under the thread still using it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis

from mmtasks.settings import Settings, get_settings
from mmtasks.state import wire

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mmtasks.venue import Venue

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Connections one worker process uses; never shared across a fork."""

    settings: Settings
    pid: int = field(default_factory=os.getpid)
    _redis: redis.Redis | None = None
    _exchange: Venue | None = None  # the gRPC client unless a venue is given (tests: SimVenue)
    _pg: ConnectionPool | None = None
    _venues: dict[str, Venue] = field(default_factory=dict)  # other connectors, by address
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def redis(self) -> redis.Redis:
        client = self._redis
        if client is not None:
            return client
        with self._lock:
            if self._redis is None:
                self._redis = redis.Redis.from_url(
                    self.settings.redis_url, socket_timeout=10, health_check_interval=30
                )
            return self._redis

    @property
    def exchange(self) -> Venue:
        """Return the venue this process trades on: the connector, over gRPC."""
        if self._exchange is not None:
            return self._exchange
        with self._lock:
            return self._make_exchange()

    def _make_exchange(self) -> Venue:
        if self._exchange is None:
            from mmtasks.connector.client import ExchangeClient

            self._exchange = ExchangeClient(
                self.settings.connector_addr,
                token=self.settings.connector_token,
                timeout_s=self.settings.connector_timeout_s,
                tls_ca=self.settings.connector_tls_ca,
            )
        return self._exchange

    def exchange_for(self, venue: str) -> Venue:
        """Return the connector client of a venue (MMTASKS_VENUES), the default one else."""
        addr = self.settings.connector_for(venue)
        if addr == self.settings.connector_addr:
            return self.exchange
        known = self._venues.get(addr)
        if known is not None:
            return known
        with self._lock:
            if addr not in self._venues:
                from mmtasks.connector.client import ExchangeClient

                self._venues[addr] = ExchangeClient(
                    addr,
                    token=self.settings.connector_token,
                    timeout_s=self.settings.connector_timeout_s,
                    tls_ca=self.settings.connector_tls_ca,
                )
            return self._venues[addr]

    @property
    def pg(self) -> ConnectionPool:
        if self._pg is not None:
            return self._pg
        with self._lock:
            if self._pg is None:
                from psycopg_pool import ConnectionPool

                self._pg = ConnectionPool(
                    self.settings.database_url,
                    min_size=0,
                    max_size=PG_POOL_MAX,
                    open=True,
                    timeout=2,  # a Postgres outage must not stall trading steps for long
                    kwargs={"connect_timeout": 2},
                )
            return self._pg

    def close(self) -> None:
        """Close every connection this process opened."""
        for venue in [self._exchange, *self._venues.values()]:
            close = getattr(venue, "close", None)  # the gRPC client has one, SimVenue not
            if close is not None:
                close()
        self._venues = {}
        if self._pg is not None:
            self._pg.close()
        if self._redis is not None:
            wire.close(self._redis)  # the step's own connections (state/wire.py)
            self._redis.close()
        self._redis = self._exchange = self._pg = None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()
PG_POOL_MAX = 4  # ledger connections per process: a few of its threads flush at once


def get_runtime() -> Runtime:
    """Return this process's runtime, rebuilt when the process was forked."""
    global _runtime  # noqa: PLW0603 - one runtime per process, rebuilt after fork
    rt = _runtime
    if rt is not None and rt.pid == os.getpid():
        return rt
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = Runtime(get_settings())
        return _runtime


def reset_runtime() -> None:
    """Drop this process's runtime (tests and worker shutdown)."""
    global _runtime  # noqa: PLW0603 - see get_runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.close()
    _runtime = None
