"""Beat's sweeper wakes the symbols whose inbox is ahead of the cursor with nothing queued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from mmtasks.runtime import reset_runtime
from mmtasks.settings import get_settings
from mmtasks.state.keys import SYMBOLS, keys_for


@pytest.fixture
def on_test_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings, runtime and Celery app at the test's Redis database."""
    from mmtasks.celery import app, use_services

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_runtime()
    before = app.conf.broker_url, app.conf.result_backend
    use_services(app, get_settings())
    yield
    app.conf.broker_url, app.conf.result_backend = before
    get_settings.cache_clear()
    reset_runtime()


def test_sweeper_wakes_only_symbols_with_unread_events_and_an_empty_queue(
    on_test_redis: None, redis_client: redis_lib.Redis
) -> None:
    # Arrange: BEHIND has unread events, CAUGHTUP has none, QUEUED already has a task waiting.
    from mmtasks.tasks.beat import sweep_inboxes

    redis_client.sadd(SYMBOLS, "BEHIND", "CAUGHTUP", "QUEUED")
    for symbol, issued, cursor in (("BEHIND", 5, 3), ("CAUGHTUP", 4, 4), ("QUEUED", 9, 2)):
        redis_client.set(keys_for(symbol).seq, issued)
        redis_client.hset(keys_for(symbol).state, "last_seq", cursor)
    redis_client.rpush("queued", "a task already waiting")

    # Act
    result = sweep_inboxes()

    # Assert: one drain task on BEHIND's own queue, nothing for the others.
    assert result == {"woken": ["BEHIND"]}
    assert redis_client.llen("behind") == 1
    assert redis_client.llen("caughtup") == 0
    assert redis_client.llen("queued") == 1
