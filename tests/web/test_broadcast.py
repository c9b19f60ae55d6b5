"""The web process's one reader of the events stream (web/broadcast.py), on real Redis.

In process: the shared reader and `follow` (what each dashboard feed runs) against the test's
Redis database, with the moments that matter (a join, a lagging client, a killed connection)
made to happen in a set order instead of waited for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from mmtasks.events import EventType, event_fields
from mmtasks.state.keys import EVENTS
from mmtasks.web.broadcast import READER_NAME, EventBroadcast, follow
from tests.web.conftest import write_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
SYMBOL = "BCASTUSDT"


def append(client: redis_lib.Redis, n: int) -> str:
    """Append event n through the production writer; return its stream id."""
    write_events(client, SYMBOL, [event_fields(EventType.POSITION_MODIFIED, SYMBOL, {"n": n})])
    return str(client.xrevrange(EVENTS, count=1)[0][0])


def reader_id(client: redis_lib.Redis) -> str:
    """Return the id of the reader's connection to the test's database (its name and db)."""
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    found = [
        c["id"] for c in client.client_list() if c.get("name") == READER_NAME and c["db"] == db
    ]
    assert len(found) == 1, found
    return str(found[0])


async def until(check: Callable[[], bool], within_s: float = 20) -> None:
    """Wait, yielding to the loop, until check() holds; fail after within_s."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.005)


async def with_broadcast(
    redis_url: str, body: Callable[[EventBroadcast, aioredis.Redis], Awaitable[Any]], **kw: Any
) -> Any:
    broadcast = EventBroadcast(redis_url, **kw)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await broadcast.start()
    try:
        await asyncio.wait_for(broadcast.ready.wait(), 10)
        return await body(broadcast, client)
    finally:
        await broadcast.stop()
        await client.aclose()


def test_an_event_handed_out_while_a_client_catches_up_reaches_it_once(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    before = [append(redis_client, n) for n in range(3)]

    async def body(broadcast: EventBroadcast, client: aioredis.Redis) -> list[str]:
        sent: list[str] = []
        late: list[str] = []

        async def send(entry_id: str, fields: dict[str, Any]) -> None:
            if not sent:  # the first caught-up event: a new one is written and handed out now
                late.append(await asyncio.to_thread(append, redis_client, 3))
                await until(lambda: broadcast.cursor == late[0])
            sent.append(entry_id)

        task = asyncio.create_task(follow(client, broadcast, "0-0", send))
        await until(lambda: len(sent) == 4)
        task.cancel()
        return sent

    sent = asyncio.run(with_broadcast(redis_url, body))

    # The join's two halves meet exactly: the ones read by catching up, then the handed-out one.
    assert sent == [*before, str(redis_client.xrevrange(EVENTS, count=1)[0][0])]


def test_a_client_that_leaves_is_unsubscribed(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    append(redis_client, 0)

    async def body(broadcast: EventBroadcast, client: aioredis.Redis) -> tuple[int, int]:
        got: list[str] = []

        async def send(entry_id: str, fields: dict[str, Any]) -> None:
            got.append(entry_id)

        task = asyncio.create_task(follow(client, broadcast, "0-0", send))
        await until(lambda: len(got) == 1)  # caught up: waiting for the reader's entries
        while_following = len(broadcast._subs)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return while_following, len(broadcast._subs)

    assert asyncio.run(with_broadcast(redis_url, body)) == (1, 0)


def test_a_client_too_far_behind_is_dropped_and_told_so(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    append(redis_client, 0)

    async def body(broadcast: EventBroadcast, client: aioredis.Redis) -> tuple[bool, list[int]]:
        gate = asyncio.Event()
        gate.set()
        got: list[int] = []

        async def send(entry_id: str, fields: dict[str, Any]) -> None:
            await gate.wait()
            got.append(json.loads(fields["data"])["n"])

        task = asyncio.create_task(follow(client, broadcast, "0-0", send))
        await until(lambda: got == [0])  # caught up: it now takes what the reader hands out
        gate.clear()  # a client that stops reading
        newest = ""
        for n in range(1, 9):  # 1 is being sent; 2..8 queue up, past the limit of 5
            newest = await asyncio.to_thread(append, redis_client, n)
        await until(lambda: broadcast.cursor == newest)
        dropped = not broadcast._subs
        gate.set()
        told = await task is False
        return dropped and told, got

    dropped_and_told, got = asyncio.run(with_broadcast(redis_url, body, queued_max=5))

    # Dropped once 5 waited; the one being sent was finished, none that waited was sent.
    assert dropped_and_told
    assert got == [0, 1]


def test_the_reader_goes_on_after_its_connection_is_killed(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    async def body(broadcast: EventBroadcast, client: aioredis.Redis) -> list[int]:
        got: list[int] = []

        async def send(entry_id: str, fields: dict[str, Any]) -> None:
            got.append(json.loads(fields["data"])["n"])

        task = asyncio.create_task(follow(client, broadcast, "0-0", send))
        await until(lambda: len(broadcast._subs) == 1)
        await asyncio.to_thread(append, redis_client, 0)
        await until(lambda: got == [0])
        killed = redis_client.client_kill_filter(_id=reader_id(redis_client))
        assert killed == 1
        await asyncio.to_thread(append, redis_client, 1)
        await until(lambda: got == [0, 1])
        task.cancel()
        return got

    assert asyncio.run(with_broadcast(redis_url, body)) == [0, 1]
