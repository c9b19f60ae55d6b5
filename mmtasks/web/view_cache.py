"""The fleet view shared by every dashboard client: computed at most once per max age."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from mmtasks.web.fleet_view import fleet_view, start_of_day_ms
from mmtasks.web.ledger_reads import fills_since
from mmtasks.web.sources import Sources, now_ms


def compute_view(sources: Sources) -> dict[str, Any]:
    """Return the status report with the dashboard's figures (blocking I/O)."""
    status = sources.status()
    now = now_ms()
    with sources.pg.connection() as conn:
        today = fills_since(conn, start_of_day_ms(now))
    return fleet_view(status, sources.redis, today, now)


class ViewCache:
    """One computation serves every client that asks within max_age_s of it."""

    def __init__(self, sources: Sources, max_age_s: float) -> None:
        self.sources = sources
        self.max_age_s = max_age_s
        self._view: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, max_age_s: float | None = None) -> dict[str, Any]:
        """Return a view no older than max_age_s (default: the configured age)."""
        limit = self.max_age_s if max_age_s is None else max_age_s
        async with self._lock:
            if self._view is None or time.monotonic() - self._at > limit:
                started = time.monotonic()
                self._view = await run_in_threadpool(compute_view, self.sources)
                self._at = started
            return self._view
