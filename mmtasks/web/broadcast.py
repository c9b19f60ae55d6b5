"""One reader of the events stream for every dashboard client of a web process.

Each client used to wait on `mm:events` with its own XREAD BLOCK, holding a Redis connection
the whole time: past ~50 clients (each also reads its ticks) the asyncio pool's 100
connections were spent and new feeds failed. Now one loop, on a connection of its own, reads
the stream and hands every entry to each client's queue. A client subscribes, then catches up
from its own cursor with plain reads, then takes the queue, skipping what it has sent
(`follow`): it gets every event once and in order whatever moment it joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from mmtasks.state.keys import EVENTS

log = logging.getLogger(__name__)

READ_BLOCK_MS = 1000
READ_COUNT = 500
READ_GRACE_S = 5.0  # a blocked read that has not answered this long after its block is dead
RETRY_S, RETRY_MAX_S = 0.5, 10.0  # after a failed read: again from the same id, backing off
QUEUED_MAX = 20_000  # events a client may lag behind before its feed is closed (it resumes)
READER_NAME = "mmtasks-web-events"  # its connection's CLIENT SETNAME
STOP_WAIT_S = 5.0

Entry = tuple[str, dict[str, Any]]
Send = Callable[[str, dict[str, Any]], Awaitable[None]]


def id_tuple(entry_id: str) -> tuple[int, int]:
    """Return a stream id as (ms, seq), which orders as the stream does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def newest_id(client: aioredis.Redis) -> str:
    """Return the id of the newest event ('0-0' when the stream is empty): events_reader's
    `last_id` on an async client."""
    rows: Any = await client.xrevrange(EVENTS, count=1)
    return str(rows[0][0]) if rows else "0-0"


def stream_rows(reply: Any) -> list[Entry]:
    """Return an XREAD reply's entries as (id, fields)."""
    return [(str(i), fields) for _, rows in reply or [] for i, fields in rows]


@dataclass(eq=False)  # each is its own: kept in a set by identity
class Subscription:
    """One client's share of the stream: every entry read since it subscribed, in order."""

    queue: asyncio.Queue[Entry | None] = field(default_factory=asyncio.Queue)

    async def take(self, after: str) -> Entry | None:
        """Return the next entry past `after` (the newest the client has), or None once the
        client fell too far behind and was dropped."""
        while True:
            entry = await self.queue.get()
            if entry is None or id_tuple(entry[0]) > id_tuple(after):
                return entry

    def drop(self) -> None:
        """Forget what is queued and say so at the next `take`."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class EventBroadcast:
    """Reads `mm:events` once per process from when it starts; every subscriber gets each
    entry read after it subscribed."""

    def __init__(self, redis_url: str, queued_max: int = QUEUED_MAX) -> None:
        self.r = aioredis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=READ_BLOCK_MS / 1000 + READ_GRACE_S,
            socket_connect_timeout=5,
            client_name=READER_NAME,
        )
        self.queued_max = queued_max
        self.cursor: str | None = None  # the newest id read; None until the stream was asked
        self.ready = asyncio.Event()  # set once cursor is known: subscribers may come
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-broadcast")

    async def stop(self) -> None:
        self._stopping = True  # a cancel that a read turns into a connection error ends it too
        if self._task is not None:
            self._task.cancel()  # not awaited past STOP_WAIT_S: a read may sit on its cancel
            await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
        with contextlib.suppress(Exception):
            await self.r.aclose()

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    async def _run(self) -> None:
        pause, failing = RETRY_S, False
        while not self._stopping:
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down, restarting, a dead socket: nothing is lost
                if self._stopping:
                    return
                if not failing:
                    log.warning("events broadcast: reading %s failed: %r; retrying", EVENTS, exc)
                failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            if failing:
                log.info("events broadcast: reading %s again after %s", EVENTS, self.cursor)
            pause, failing = RETRY_S, False

    async def _read_once(self) -> None:
        if self.cursor is None:  # start after the newest entry: a client catches up itself
            self.cursor = await newest_id(self.r)
            self.ready.set()
        reply = await self.r.xread({EVENTS: self.cursor}, count=READ_COUNT, block=READ_BLOCK_MS)
        for entry in stream_rows(reply):
            self.cursor = entry[0]
            self._hand_out(entry)

    def _hand_out(self, entry: Entry) -> None:
        for sub in list(self._subs):
            if sub.queue.qsize() >= self.queued_max:  # a client that stopped reading
                self._subs.discard(sub)
                sub.drop()
            else:
                sub.queue.put_nowait(entry)


async def catch_up(client: aioredis.Redis, cursor: str, send: Send) -> str:
    """Send the stream's entries after cursor as they are now; return the newest sent."""
    while True:
        rows = stream_rows(await client.xread({EVENTS: cursor}, count=READ_COUNT))  # no BLOCK
        for entry_id, fields in rows:
            await send(entry_id, fields)
            cursor = entry_id
        if len(rows) < READ_COUNT:
            return cursor


async def follow(
    client: aioredis.Redis, broadcast: EventBroadcast, cursor: str, send: Send
) -> bool:
    """Send every event after cursor, once and in order, until cancelled: those already in
    the stream (`catch_up`), then the ones the broadcast reads. It subscribes first, so none
    falls between the two. Return False when the client fell too far behind (dropped)."""
    await broadcast.ready.wait()
    sub = broadcast.subscribe()
    try:
        cursor = await catch_up(client, cursor, send)
        while True:
            entry = await sub.take(cursor)
            if entry is None:
                return False
            await send(*entry)
            cursor = entry[0]
    finally:
        broadcast.unsubscribe(sub)
