"""Exactly one beat schedules at a time: a second one stands by until the first stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis as redis_lib

from mmtasks.state.keys import BEAT_LOCK
from tests.helpers import eventually
from tests.procs import ROOT, stop


def start_beat(redis_url: str, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mmtasks",
            "beat",
            "--loglevel",
            "INFO",
            "-s",
            str(tmp_path / f"{name}-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        eventually(lambda: lock_owner_pid(redis_client) == first.pid, timeout_s=30)
        second = start_beat(redis_url, tmp_path, "second")
        # The sweeper runs every 5 s: once its task went out, the second beat has ticked too.
        eventually(lambda: redis_client.llen("control") > 0, timeout_s=30)
        assert lock_owner_pid(redis_client) == first.pid

        stop(first)

        eventually(lambda: lock_owner_pid(redis_client) == second.pid, timeout_s=30)
    finally:
        stop(first)
        if second is not None:
            stop(second)
