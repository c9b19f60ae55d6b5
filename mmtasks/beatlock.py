"""A beat scheduler that runs only while it holds a Redis lock, so one beat schedules at a time.

A second `celery -A mmtasks beat` waits (ticking, sending nothing) until the lock is free: after
the first beat stops, or its lock expires because it died. The lock is renewed on every tick.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

import redis
from celery.beat import PersistentScheduler

from mmtasks.settings import get_settings
from mmtasks.state.keys import BEAT_LOCK

log = logging.getLogger(__name__)

LOCK_TTL_S = 30
WAIT_TICK_S = 5.0

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
"""


def owner_name(host: str) -> str:
    """Return this beat's name in the lock: host (MMTASKS_HOST), a random part and the pid.
    The random part keeps two beats apart that share a host name and a pid (containers on
    one host network each run as pid 1): with host:pid alone both would renew one lock."""
    return f"{host}/{secrets.token_hex(4)}:{os.getpid()}"


class LockedScheduler(PersistentScheduler):  # type: ignore[misc]  # celery ships no type hints
    """PersistentScheduler that sends tasks only while this process owns `mm:beat:lock`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default schedule file's home
        self._redis = redis.Redis.from_url(settings.redis_url)
        self._owner = owner_name(settings.host)
        self._renew = self._redis.register_script(RENEW_LUA)
        self._holding = False
        super().__init__(*args, **kwargs)

    def _hold(self) -> bool:
        """Take or keep the lock; return True while we own it."""
        try:
            held = bool(self._renew(keys=[BEAT_LOCK], args=[self._owner, LOCK_TTL_S]))
        except redis.RedisError as exc:
            log.warning("beat lock unreachable (%s); not scheduling until Redis answers", exc)
            held = False
        if held != self._holding:
            if held:
                log.info("beat lock taken by %s: scheduling", self._owner)
            else:
                try:
                    owner = self._redis.get(BEAT_LOCK)
                except redis.RedisError:
                    owner = b"unknown: Redis does not answer"
                log.warning("another beat holds the lock (%s): standing by", owner)
        self._holding = held
        return held

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Run due entries when we hold the lock; otherwise wait and try again."""
        if not self._hold():
            return WAIT_TICK_S
        return min(float(super().tick(*args, **kwargs)), LOCK_TTL_S / 3)

    def close(self) -> None:
        """Release the lock on a clean shutdown so a standby beat takes over at once."""
        if self._holding and self._redis.get(BEAT_LOCK) == self._owner.encode():
            self._redis.delete(BEAT_LOCK)
        super().close()
