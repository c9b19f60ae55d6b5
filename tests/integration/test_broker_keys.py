"""A worker over many symbol queues waits on one Redis list per queue (mmtasks/celery.py).

kombu's Redis transport names four lists per queue by default (one per priority step) in the
BRPOP it sends again after every message: 128 keys for a process over 32 queues. Read from
Redis's own MONITOR: the command the real worker process sends.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from tests.kit.poll import until_equal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_a_worker_over_several_queues_waits_on_one_list_each_and_takes_their_tasks(
    workers: Any, redis_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    queues = [f"k{tag}{i}usdt" for i in range(5)]
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    with client.monitor() as monitor:
        workers(queues)
        while True:  # the first BRPOP naming our queues: every later one names the same keys
            words = str(monitor.next_command()["command"]).split(" ")
            if words[0].upper() == "BRPOP" and any(w in queues for w in words):
                break
    keys, _timeout = words[1:-1], words[-1]
    assert sorted(keys) == sorted(queues)

    for queue in queues:
        for _ in range(3):
            app.send_task("mmtasks.symbol.ping", args=[queue.upper()], queue=queue)
    until_equal(lambda: [client.llen(q) for q in queues], [0] * len(queues))
