"""The WebSocket feed: a snapshot, then events by stream id; a reconnect resumes without gaps."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis as redis_lib
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from mmtasks.events import EventType, event_fields
from tests.helpers import eventually
from tests.web.conftest import write_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SYMBOL = "RESUMEUSDT"


def publish_numbered(client: redis_lib.Redis, start: int, n: int) -> None:
    """Append n events through the production writer, numbered from start."""
    write_events(
        client,
        SYMBOL,
        [
            event_fields(EventType.POSITION_MODIFIED, SYMBOL, {"n": i})
            for i in range(start, start + n)
        ],
    )


def receive_events(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """Return the next n stream events the feed sends (skipping ticks and status)."""
    events: list[dict[str, Any]] = []

    def more() -> bool:
        message = json.loads(ws.recv(timeout=10))
        if "id" in message:
            events.append(message)
        return len(events) >= n

    eventually(more, timeout_s=30, interval_s=0)
    return events


def test_a_reconnect_with_after_receives_every_missed_event_once_in_order(
    start_web: Any, web_env: dict[str, str], redis_client: redis_lib.Redis
) -> None:
    # Arrange: a client sees the snapshot and the first 5 events, then disconnects.
    web = start_web(web_env)
    ws_url = f"ws://127.0.0.1:{web.port}/ws"
    publish_numbered(redis_client, 0, 3)  # history before the client comes
    with connect(ws_url, open_timeout=10) as ws:
        status = json.loads(ws.recv(timeout=10))
        history = json.loads(ws.recv(timeout=10))
        publish_numbered(redis_client, 3, 5)
        first = receive_events(ws, 5)
    last_seen = first[-1]["id"]

    # Act: 100 events pass while it is away; it reconnects with after=<last id seen>.
    publish_numbered(redis_client, 8, 100)
    with connect(f"{ws_url}?after={last_seen}", open_timeout=10) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        resumed = receive_events(ws, 100)
        publish_numbered(redis_client, 108, 1)
        live = receive_events(ws, 1)

    # Assert: the snapshot came first; every missed event arrived once, in order, then live.
    assert status["type"] == "status" and "stream_id" in status["data"]
    assert [e["data"]["fields"]["n"] for e in history["data"]["events"]] == [0, 1, 2]
    assert [e["data"]["fields"]["n"] for e in first] == [3, 4, 5, 6, 7]
    assert snapshot["type"] == "status"
    assert [e["data"]["fields"]["n"] for e in resumed] == list(range(8, 108))
    assert len({e["id"] for e in resumed}) == 100
    assert all(e["type"] == "position" and e["data"]["symbol"] == SYMBOL for e in resumed)
    assert [e["data"]["fields"]["n"] for e in live] == [108]


def test_a_malformed_after_is_refused(start_web: Any, web_env: dict[str, str]) -> None:
    web = start_web(web_env)

    url = f"ws://127.0.0.1:{web.port}/ws?after=yesterday"
    with connect(url, open_timeout=10) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
