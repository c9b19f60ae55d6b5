"""One bridge streams at a time: a leader lock in Redis, standbys waiting to take it over.

Two bridges streaming at once are safe (the worker applies an order update once, by trade id
and cumulative quantity) but not free: every event is appended to the inbox twice and every
tick written twice. So a bridge streams only while it holds `mm:bridge:leader` (a token naming
its host and pid, `LEADER_TTL_MS`), renewed every third of that; a standby tries to take it as
often. A leader killed outright is replaced within the TTL plus one try (about 3.5 s); a
leader that cannot renew (Redis unreachable, or the key gone) stops streaming once its lock
may have expired, so two never stream for longer than that. Standbys note themselves in
`mm:bridge:standby` (name -> last seen ms) for `status`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import Any

import redis

from mmtasks.registry.status import lock_holder
from mmtasks.settings import get_settings
from mmtasks.state.keys import BRIDGE_LEADER, BRIDGE_STANDBY

log = logging.getLogger(__name__)

LEADER_TTL_MS = 3000
RENEW_LUA = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_LUA = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""


def bridge_name() -> str:
    """Return this bridge's name: its host (MMTASKS_HOST, else the hostname) and pid."""
    return f"{get_settings().host}:{os.getpid()}"


class Leadership:
    """Holds or waits for the bridge leader lock; `leading` is set while this bridge holds it."""

    def __init__(self, client: redis.Redis, ttl_ms: int = LEADER_TTL_MS) -> None:
        self._r = client
        self.ttl_ms = ttl_ms
        self.name = bridge_name()
        self.token = f"{self.name}/{secrets.token_hex(4)}"
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self._renewed = 0.0

    async def run(self) -> None:
        """Take, keep or wait for the lock, for ever (cancel to stop)."""
        while True:
            try:
                held = await asyncio.to_thread(self._try)
            except (redis.RedisError, OSError) as exc:
                log.warning("leader lock: redis unreachable: %s", exc)
                held = None
            self._update(held)
            await asyncio.sleep(self.ttl_ms / 3000)

    def _try(self) -> bool:
        if self.leading.is_set():
            return bool(self._r.eval(RENEW_LUA, 1, BRIDGE_LEADER, self.token, self.ttl_ms))
        if self._r.set(BRIDGE_LEADER, self.token, nx=True, px=self.ttl_ms):
            self._r.hdel(BRIDGE_STANDBY, self.name)
            return True
        self._r.hset(BRIDGE_STANDBY, self.name, int(time.time() * 1000))
        return False

    def _update(self, held: bool | None) -> None:
        now = time.monotonic()
        if held:
            self._renewed = now
            if not self.leading.is_set():
                self.lost.clear()
                self.leading.set()
                log.info("bridge %s leads: streaming", self.name)
            return
        expired = held is False or now - self._renewed > self.ttl_ms / 1000
        if self.leading.is_set() and expired:
            self.leading.clear()
            self.lost.set()
            log.warning("bridge %s lost the leader lock: standing by", self.name)

    def release(self) -> None:
        """Let go of the lock on a clean stop, so a standby takes over at once."""
        try:
            self._r.eval(RELEASE_LUA, 1, BRIDGE_LEADER, self.token)
            self._r.hdel(BRIDGE_STANDBY, self.name)
        except (redis.RedisError, OSError):
            pass


def leader_of(client: redis.Redis) -> dict[str, Any]:
    """Return who leads the bridges and who stands by (names seen in the last 10 s)."""
    token = client.get(BRIDGE_LEADER)
    now = int(time.time() * 1000)
    standby = {
        _text(name): int(seen)
        for name, seen in client.hgetall(BRIDGE_STANDBY).items()
        if now - int(seen) < 10_000
    }
    return {"leader": lock_holder(token), "standby": sorted(standby)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
