"""Exactly one beat schedules at a time: a second one stands by until the first stops."""

from __future__ import annotations

from pathlib import Path

import redis as redis_lib

from mmtasks.state.keys import BEAT_LOCK
from tests.kit.env import fleet_env
from tests.kit.poll import eventually
from tests.kit.procs import Proc, launch


def start_beat(redis_url: str, tmp_path: Path, name: str) -> Proc:
    schedule = str(tmp_path / f"{name}-schedule")
    return launch(
        f"beat-{name}",
        *("-m", "celery", "-A", "mmtasks", "beat", "--loglevel", "INFO", "-s", schedule),
        env=fleet_env(redis_url),
    )


def lock_owner_pid(client: redis_lib.Redis) -> int | None:
    owner = client.get(BEAT_LOCK)
    return int(owner.rsplit(":", 1)[1]) if owner else None


def test_second_beat_stands_by_until_the_first_stops(
    redis_url: str, redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    first = start_beat(redis_url, tmp_path, "first")
    second = None
    try:
        eventually(lambda: lock_owner_pid(redis_client) == first.proc.pid, timeout_s=30)
        second = start_beat(redis_url, tmp_path, "second")
        # The sweeper runs every 5 s: once its task went out, the second beat has ticked too.
        eventually(lambda: redis_client.llen("control") > 0, timeout_s=30)
        assert lock_owner_pid(redis_client) == first.proc.pid

        first.stop()

        eventually(lambda: lock_owner_pid(redis_client) == second.proc.pid, timeout_s=30)
    finally:
        first.stop()
        if second is not None:
            second.stop()
