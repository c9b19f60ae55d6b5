"""One reader of the events stream for every dashboard client of a web process.

Each client used to wait on `mm:events` with its own XREAD BLOCK, holding a Redis connection
the whole time: past ~50 clients (each also reads its ticks) the asyncio pool's 100
connections were spent and new feeds failed. Now one loop reads the stream and hands every
entry to each client's queue; a client first catches up from its own cursor with plain reads
(`Feed`), then takes the queue, skipping what it has sent (`Subscription.take`), so it gets every
event once and in order whatever moment it joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from mmtasks.state.keys import EVENTS

log = logging.getLogger(__name__)

READ_BLOCK_MS = 1000
READ_COUNT = 500
RETRY_S = 1.0  # after a failed read (Redis down): the loop reads again from the same id
QUEUED_MAX = 20_000  # events a client may lag behind before its feed is closed (it resumes)

Entry = tuple[str, dict[str, Any]]


def id_tuple(entry_id: str) -> tuple[int, int]:
    """Return a stream id as (ms, seq), which orders as the stream does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)  # each is its own: kept in a set by identity
class Subscription:
    """One client's share of the stream: every entry read since it subscribed, in order."""

    queue: asyncio.Queue[Entry | None] = field(default_factory=asyncio.Queue)

    async def take(self, after: str) -> Entry | None:
        """Return the next entry past `after` (the newest the client has), or None when the
        client fell QUEUED_MAX entries behind and was dropped."""
        while True:
            entry = await self.queue.get()
            if entry is None or id_tuple(entry[0]) > id_tuple(after):
                return entry


class EventBroadcast:
    """Reads `mm:events` once per process from when it starts; every subscriber gets each
    entry read after it subscribed."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.r = client
        self.cursor = "0-0"
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin reading after the stream's newest entry (a client catches up on its own)."""
        with contextlib.suppress(Exception):  # Redis down: read from the start when it is back
            rows = await self.r.xrevrange(EVENTS, count=1)
            self.cursor = str(rows[0][0]) if rows else "0-0"
        self._task = asyncio.create_task(self._run(), name="events-broadcast")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    async def _run(self) -> None:
        while True:
            try:
                reply: Any = await self.r.xread(
                    {EVENTS: self.cursor}, count=READ_COUNT, block=READ_BLOCK_MS
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: clients wait, nothing is lost
                log.warning("events broadcast: reading failed (%s); again in %gs", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)
                continue
            for _, rows in reply or []:
                for entry_id, fields in rows:
                    self.cursor = str(entry_id)
                    self._hand_out((self.cursor, fields))

    def _hand_out(self, entry: Entry) -> None:
        for sub in list(self._subs):
            if sub.queue.qsize() >= QUEUED_MAX:  # a client that stopped reading
                self._subs.discard(sub)
                sub.queue.put_nowait(None)
            else:
                sub.queue.put_nowait(entry)
