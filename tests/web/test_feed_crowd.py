"""Many dashboards at once: every WebSocket client gets the snapshot and every event.

Each client's feed holds a Redis connection while it waits for events (XREAD BLOCK) and takes
another for its price ticks; redis-py's asyncio pool refuses its 101st caller at once, so a
web process with more than ~50 viewers closed some of their feeds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis as redis_lib
from websockets.asyncio.client import ClientConnection, connect

from mmtasks.events import EventType, event_fields
from tests.web.conftest import write_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOL = "CROWDUSDT"
CLIENTS = 150


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    """Return the next stream event the feed sends (skipping ticks and status)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if "id" in message:
            return dict(message)


async def crowd(url: str, redis_client: redis_lib.Redis) -> list[Any]:
    sockets = [await connect(url, open_timeout=30) for _ in range(CLIENTS)]
    try:
        # Each client's first message is the snapshot; then its feed waits on the stream.
        firsts = [json.loads(await asyncio.wait_for(ws.recv(), timeout=30)) for ws in sockets]
        assert {m["type"] for m in firsts} == {"status"}
        write_events(
            redis_client,
            SYMBOL,
            [event_fields(EventType.POSITION_MODIFIED, SYMBOL, {"n": 7})],
        )
        return await asyncio.gather(*(next_event(ws) for ws in sockets), return_exceptions=True)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def test_150_dashboards_at_once_each_get_the_snapshot_and_the_next_event(
    start_web: Any, web_env: dict[str, str], redis_client: redis_lib.Redis
) -> None:
    web = start_web(web_env)

    got = asyncio.run(crowd(f"ws://127.0.0.1:{web.port}/ws?after=0-0", redis_client))

    failed = [g for g in got if isinstance(g, BaseException)]
    assert failed == [], f"{len(failed)} of {CLIENTS} feeds failed, e.g. {failed[0]!r}"
    assert {g["data"]["fields"]["n"] for g in got} == {7}
    assert len(got) == CLIENTS


async def join_and_follow(url: str, last: int, joined: Any) -> tuple[str, list[str]]:
    """Connect, read the snapshot's stream id, then collect event ids until event n=last."""
    async with connect(url, open_timeout=30) as ws:
        status = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        joined()
        seen: list[str] = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            if message.get("type") == "history":
                continue
            if "id" in message:
                seen.append(message["id"])
                if message["data"]["fields"]["n"] == last:
                    return status["data"]["stream_id"], seen


async def join_while_events_flow(url: str, redis_client: redis_lib.Redis) -> list[Any]:
    events, clients = 300, 40
    everyone = asyncio.Event()
    count = 0

    def one_joined() -> None:
        nonlocal count
        count += 1
        if count == clients:
            everyone.set()

    def write(first: int, stop: int, pause_s: float) -> None:
        for n in range(first, stop):
            fields = event_fields(EventType.POSITION_MODIFIED, SYMBOL, {"n": n})
            write_events(redis_client, SYMBOL, [fields])
            time.sleep(pause_s)

    async def client(k: int) -> tuple[str, list[str]]:
        await asyncio.sleep(k * 0.02)  # they join one by one while the writer appends
        return await join_and_follow(url, events - 1, one_joined)

    async def writer() -> None:
        await asyncio.to_thread(write, 0, events - 1, 0.003)
        await everyone.wait()  # the last event comes when every client is in: all see it
        await asyncio.to_thread(write, events - 1, events, 0)

    done = await asyncio.gather(writer(), *(client(k) for k in range(clients)))
    return done[1:]


def test_clients_joining_while_events_flow_each_get_every_later_event_once_in_order(
    start_web: Any, web_env: dict[str, str], redis_client: redis_lib.Redis
) -> None:
    web = start_web(web_env)

    joined = asyncio.run(join_while_events_flow(f"ws://127.0.0.1:{web.port}/ws", redis_client))

    # Each client's events are the stream's entries after its snapshot, no gap, no repeat:
    # the ones it caught up on and the ones the shared reader handed it meet exactly.
    stream = [str(entry_id) for entry_id, _ in redis_client.xrange("mm:events")]
    assert len(stream) == 300
    for stream_id, seen in joined:
        after = stream.index(stream_id) + 1 if stream_id in stream else 0
        assert seen == stream[after:]
    assert len({stream_id for stream_id, _ in joined}) > 1  # they did join at different points
