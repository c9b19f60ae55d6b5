"""Fire-and-forget tasks leave nothing behind in the sender: no result subscription.

Celery's `send_task` does not read `task_ignore_result`: unless told `ignore_result=True` it
subscribes to each task's result channel, and a sender that never reads results (the bridge,
a worker waking a symbol) kept every subscription: a soak saw the bridge grow ~50 MB an hour.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from mmtasks.enqueue import wake
from tests.kit.env import point_app_at


def _subscriptions(app: Any) -> set[Any]:
    consumer = app.backend.result_consumer
    pubsub = getattr(consumer, "_pubsub", None)
    return set(getattr(consumer, "subscribed_to", set())) | set(pubsub.channels if pubsub else ())


def test_waking_a_symbol_many_times_subscribes_to_no_result(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    point_app_at(redis_url)
    from mmtasks.celery import app

    before = _subscriptions(app)  # what earlier tests in this process asked results of
    for _ in range(200):
        wake(app, "BTCUSDT")

    assert redis_client.llen("btcusdt") == 200  # sent
    assert _subscriptions(app) - before == set()
