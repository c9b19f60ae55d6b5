"""The alert gate on real Redis: a burst is one send, a window holds the same alert back, an
urgent one is sent at once whatever was sent before it, and a gathered send lists in order.

The flush tasks that alert() schedules go to the test's broker and are not run here: the test
takes each send as the flush would, with the token it was scheduled with.
"""

from __future__ import annotations

import json

import pytest
import redis as redis_lib

from mmtasks.alerts import alert, take
from mmtasks.settings import Settings, get_settings
from mmtasks.state.keys import AlertKeys
from tests.kit.env import point_app_at

GATHER_MS, WINDOW_S = 2_000, 300.0


@pytest.fixture
def settings(redis_url: str) -> Settings:
    point_app_at(redis_url)  # the scheduled flushes go to the test's own Redis
    return get_settings().model_copy(
        update={
            "alert_urls": "json://127.0.0.1:9/hook",
            "alert_gather_s": GATHER_MS / 1000,
            "alert_window_s": WINDOW_S,
        }
    )


def _now_ms(client: redis_lib.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _due(client: redis_lib.Redis, key: str) -> int:
    return int(client.get(AlertKeys(key).scheduled))


def test_an_urgent_alert_is_sent_at_once_inside_the_window_of_the_one_before(
    redis_client: redis_lib.Redis, settings: Settings
) -> None:
    key = "fleet-state:REDUCING-HALTED"
    # Arrange: one alert sent (its window of 300 s is now closed), then one more held back.
    assert alert(redis_client, key, "fleet REDUCING -> HALTED", "first", settings=settings)
    first = str(_due(redis_client, key))
    assert take(redis_client, key, WINDOW_S, first)[0] == 1
    assert alert(redis_client, key, "fleet REDUCING -> HALTED", "second", settings=settings)
    held = _due(redis_client, key)
    assert held - _now_ms(redis_client) > WINDOW_S * 1000 - 10_000  # waits for the window

    # Act: an urgent alert of the same key.
    sent = alert(
        redis_client, key, "fleet REDUCING -> HALTED", "third", urgent=True, settings=settings
    )

    # Assert: its send is brought forward to the gather time; the held-back send is superseded
    # (takes nothing), the new one carries both, in order.
    brought = _due(redis_client, key)
    assert sent and brought - _now_ms(redis_client) <= GATHER_MS
    assert take(redis_client, key, WINDOW_S, str(held)) == (0, [])
    count, items = take(redis_client, key, WINDOW_S, str(brought))
    assert count == 2
    assert [i["body"] for i in items] == ["second", "third"]
    assert items[0]["first_ms"] <= items[1]["first_ms"]


def test_a_burst_of_the_same_alert_is_one_send_and_one_line(
    redis_client: redis_lib.Redis, settings: Settings
) -> None:
    scheduled = [
        alert(redis_client, "test", "test alert", "disk almost full", settings=settings)
        for _ in range(50)
    ]
    count, items = take(redis_client, "test", WINDOW_S, str(_due(redis_client, "test")))

    assert sum(scheduled) == 1
    assert count == 50
    assert [(i["body"], i["n"]) for i in items] == [("disk almost full", 50)]


def test_different_alerts_never_wait_behind_each_others_window(
    redis_client: redis_lib.Redis, settings: Settings
) -> None:
    # Arrange: ACTIVE -> REDUCING was sent: its key's window is closed.
    up = "fleet-state:ACTIVE-REDUCING"
    assert alert(redis_client, up, "fleet ACTIVE -> REDUCING", "exposure", settings=settings)
    take(redis_client, up, WINDOW_S, str(_due(redis_client, up)))

    # Act: REDUCING -> ACTIVE (not urgent) under its own key.
    down = "fleet-state:REDUCING-ACTIVE"
    assert alert(redis_client, down, "fleet REDUCING -> ACTIVE", "cleared", settings=settings)

    # Assert: sent after the gather time, not at the end of the other key's window.
    assert _due(redis_client, down) - _now_ms(redis_client) <= GATHER_MS
    assert json.loads(redis_client.lindex(AlertKeys(down).items, 0))["body"] == "cleared"


def test_a_send_lost_with_its_task_is_scheduled_again_by_the_next_alert(
    redis_client: redis_lib.Redis, settings: Settings
) -> None:
    assert alert(redis_client, "k", "t", "one", settings=settings)
    redis_client.delete(AlertKeys("k").scheduled)  # as if its margin expired: the task was lost

    assert alert(redis_client, "k", "t", "two", settings=settings)
    count, items = take(redis_client, "k", WINDOW_S, str(_due(redis_client, "k")))
    assert count == 2 and [i["body"] for i in items] == ["one", "two"]


def test_a_send_that_runs_after_its_schedule_expired_still_sends_what_was_gathered(
    redis_client: redis_lib.Redis, settings: Settings
) -> None:
    # Arrange: an alert gathered, its send scheduled; the send's task comes back late (the
    # control worker died in the gather, the message is redelivered after its visibility
    # timeout): by then the scheduled key's margin has expired.
    key = "symbol-error:BTCUSDT"
    assert alert(redis_client, key, "BTCUSDT moved to ERROR", "venue refused", settings=settings)
    token = str(_due(redis_client, key))
    redis_client.delete(AlertKeys(key).scheduled)  # as its expiry would

    # Act + Assert: the late send carries the alert; nothing is left behind unsent.
    count, items = take(redis_client, key, WINDOW_S, token)
    assert count == 1 and [i["body"] for i in items] == ["venue refused"]
    assert redis_client.llen(AlertKeys(key).items) == 0
