"""The fleet-wide rate budget of one venue: buckets in Redis, drawn with one Lua script."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import redis
import redis.asyncio as aioredis

from mmtasks.errors import RateLimitedError, ValidationError

log = logging.getLogger(__name__)

DRAW_LUA = resources.files("mmtasks.budget").joinpath("draw.lua").read_text()
CORRECT_LUA = resources.files("mmtasks.budget").joinpath("correct.lua").read_text()
PAUSE_LUA = resources.files("mmtasks.budget").joinpath("pause.lua").read_text()
VENUES = "mm:budget:venues"  # set of venue names with a budget (for status and /metrics)
WAIT_BUCKETS_MS = (1, 5, 10, 50, 100, 500, 1000, 5000)
POLL_MAX_S = 0.25  # a waiting call looks again at least this often (a pause may end early)


class Priority(StrEnum):
    """What a call is for; the order in which calls get budget under pressure."""

    CANCEL = "cancel"
    CLOSE = "close"  # a reduce-only order that closes inventory
    ENTRY = "entry"
    READ = "read"  # reconcile, backfill, market data
    SETUP = "setup"  # a connector starting (markets, fee rates): waits as long as it takes


# Share of each bucket a priority must leave to the ones above it, and how long it may wait.
RESERVE = {
    Priority.CANCEL: 0.0,
    Priority.CLOSE: 0.05,
    Priority.ENTRY: 0.25,
    Priority.READ: 0.5,
    Priority.SETUP: 0.5,
}
POOL_CONNECTIONS = 32  # Redis connections one budget holds at most
MAX_WAIT_S = {
    Priority.CANCEL: 4.0,
    Priority.CLOSE: 3.0,
    Priority.ENTRY: 1.5,
    Priority.READ: 3.0,
    Priority.SETUP: 120.0,
}
# The longest a draw waits for a Redis connection: the tightest bound, so a cancel is never
# held past its own by the pool (connections go first come, not by priority); then it fails
# as Redis being down does.
POOL_WAIT_S = min(MAX_WAIT_S.values())


@dataclass(frozen=True)
class VenueLimits:
    """The limits a venue sets (or lower ones an operator gives, for a second bot on a key)."""

    weight_per_minute: int
    orders_per_10s: int
    orders_per_minute: int
    margin: float = 0.95  # the share of each limit the fleet allows itself
    burst: float = 0.1  # bucket size as a share of the limit: the burst drawn at once


DEFAULT_LIMITS: dict[str, VenueLimits] = {
    "binanceusdm": VenueLimits(weight_per_minute=2400, orders_per_10s=300, orders_per_minute=1200),
    "binance": VenueLimits(weight_per_minute=6000, orders_per_10s=100, orders_per_minute=6000),
}


def limits_for(venue: str, overrides: Mapping[str, int | None] | None = None) -> VenueLimits:
    """Return the venue's limits with an operator's lower figures applied."""
    base = DEFAULT_LIMITS.get(venue, VenueLimits(1200, 50, 1200))
    values = {
        "weight_per_minute": base.weight_per_minute,
        "orders_per_10s": base.orders_per_10s,
        "orders_per_minute": base.orders_per_minute,
    }
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if value <= 0:
            raise ValidationError(f"budget {name} must be > 0, received {value}")
        values[name] = value
    return VenueLimits(**values, margin=base.margin, burst=base.burst)


@dataclass(frozen=True)
class Scope:
    """One bucket: a venue limit over a window, for one IP or one account."""

    name: str
    key: str
    limit: int
    window_ms: int
    margin: float
    burst: float

    @property
    def capacity(self) -> float:
        return max(1.0, self.limit * self.margin * self.burst)

    @property
    def rate_per_ms(self) -> float:
        # Any window of window_ms then holds at most capacity + rate x window = limit x margin.
        return max(self.limit * self.margin - self.capacity, 1.0) / self.window_ms

    def can_lower(self, used: int) -> bool:
        """True when the venue's figure (used in its window) leaves less than a full bucket."""
        return self.limit * self.margin - used < self.capacity

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": self.limit,
            "window_ms": self.window_ms,
            "capacity": self.capacity,
            "rate_per_ms": self.rate_per_ms,
        }


def account_id(api_key: str) -> str:
    """A stable name of an API key that reveals nothing of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12] if api_key else "public"


class RateBudget:
    """The budget of one venue as one process draws from it (async, on the venue's loop)."""

    def __init__(
        self, redis_url: str, venue: str, limits: VenueLimits, *, ip: str, api_key: str
    ) -> None:
        self.venue = venue
        self.limits = limits
        prefix = f"mm:budget:{{{venue}}}"
        self.pause_key = f"{prefix}:pause"
        self.scopes_key = f"{prefix}:scopes"
        self.stats_key = f"{prefix}:stats"
        account = account_id(api_key)
        self.weight = Scope(
            "weight",
            f"{prefix}:weight:{ip}",
            limits.weight_per_minute,
            60_000,
            limits.margin,
            limits.burst,
        )
        self.orders_10s = Scope(
            "orders_10s",
            f"{prefix}:orders10s:{account}",
            limits.orders_per_10s,
            10_000,
            limits.margin,
            limits.burst,
        )
        self.orders_1m = Scope(
            "orders_1m",
            f"{prefix}:orders1m:{account}",
            limits.orders_per_minute,
            60_000,
            limits.margin,
            limits.burst,
        )
        # Many draws at once (a connector's every symbol places at the same tick) share these
        # connections: a draw past them waits for one, as it waits for tokens, instead of
        # failing at once (a plain pool raises MaxConnectionsError at its 100th caller).
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_S, socket_timeout=5
        )
        self.redis = aioredis.Redis.from_pool(pool)  # closes the pool when it is closed
        self._draw = self.redis.register_script(DRAW_LUA)
        self._correct = self.redis.register_script(CORRECT_LUA)
        self._pause = self.redis.register_script(PAUSE_LUA)
        self._stats: dict[str, int] = {}
        self._announced = False

    async def announce(self) -> None:
        """Say in Redis which buckets this venue has (status and /metrics read them)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(VENUES, self.venue)
        for scope in (self.weight, self.orders_10s, self.orders_1m):
            pipe.hset(self.scopes_key, scope.key, json.dumps(scope.describe()))
        await pipe.execute()
        self._announced = True

    async def draw(self, weight: int, orders: int, priority: Priority) -> float:
        """Take weight (and orders) before a request leaves; return the seconds waited.

        Raise RateLimitedError when the budget cannot be had within the priority's bound.
        """
        if not self._announced:
            await self.announce()
        scopes: list[tuple[Scope, int]] = [(self.weight, weight)]
        if orders:
            scopes += [(self.orders_10s, orders), (self.orders_1m, orders)]
        args: list[Any] = []
        for scope, cost in scopes:
            args += [scope.capacity, scope.rate_per_ms, cost, scope.capacity * RESERVE[priority]]
        keys = [self.pause_key, *(s.key for s, _ in scopes)]
        started = time.monotonic()
        deadline = started + MAX_WAIT_S[priority]
        while True:
            granted, wait_ms = await self._draw(keys=keys, args=args)
            if int(granted) == 1:
                waited = time.monotonic() - started
                self._count(priority, waited)
                return waited
            wait_s = int(wait_ms) / 1000
            paused = int(granted) == -1
            if time.monotonic() + wait_s > deadline:
                self._bump("denied")
                reason = "the venue is paused (429/418)" if paused else "the rate budget is spent"
                waited = time.monotonic() - started
                raise RateLimitedError(
                    f"{self.venue}: {reason}; a {priority} call waited {waited:.1f}s and would "
                    f"wait {wait_s:.1f}s more (bound {MAX_WAIT_S[priority]:g}s)",
                    wait_s,
                )
            await asyncio.sleep(min(wait_s, POLL_MAX_S))

    async def correct(
        self, used_weight: int | None, orders_10s: int | None, orders_1m: int | None
    ) -> None:
        """Believe no more budget than the venue's own figures leave (its response headers).

        Only a figure that leaves less than a full bucket can lower one; the others cost no
        round trip (most answers, on a fleet within its limits).
        """
        for scope, used in (
            (self.weight, used_weight),
            (self.orders_10s, orders_10s),
            (self.orders_1m, orders_1m),
        ):
            if used is not None and scope.can_lower(used):
                await self._correct(
                    keys=[scope.key],
                    args=[scope.capacity, scope.rate_per_ms, scope.limit * scope.margin, used],
                )

    def may_correct(
        self, used_weight: int | None, orders_10s: int | None, orders_1m: int | None
    ) -> bool:
        """True when correct() with these figures would change a bucket (worth a task)."""
        return any(
            used is not None and scope.can_lower(used)
            for scope, used in (
                (self.weight, used_weight),
                (self.orders_10s, orders_10s),
                (self.orders_1m, orders_1m),
            )
        )

    async def pause(self, seconds: float, reason: str) -> int:
        """Stop every process's calls to the venue for seconds; return the pause in force (ms)."""
        self._bump("pauses")
        ms = int(await self._pause(keys=[self.pause_key], args=[int(seconds * 1000), reason]))
        log.warning("%s paused for every process for %.1fs: %s", self.venue, ms / 1000, reason)
        return ms

    def _bump(self, name: str, by: int = 1) -> None:
        self._stats[name] = self._stats.get(name, 0) + by

    def _count(self, priority: Priority, waited_s: float) -> None:
        self._bump("draws")
        self._bump(f"draws:{priority}")
        ms = waited_s * 1000
        if ms > 0.5:
            self._bump("waits")
            self._bump("wait_ms_sum", int(ms))
        for bound in WAIT_BUCKETS_MS:
            if ms <= bound:
                self._bump(f"wait_le:{bound}")
        self._bump("wait_le:+Inf")

    async def flush(self) -> None:
        """Add this process's counters to the venue's totals in Redis (for /metrics)."""
        stats, self._stats = self._stats, {}
        if stats:
            pipe = self.redis.pipeline(transaction=False)
            for name, value in stats.items():
                pipe.hincrby(self.stats_key, name, value)
            await pipe.execute()

    async def close(self) -> None:
        await self.flush()
        await self.redis.aclose()


def budget_status(client: redis.Redis) -> dict[str, Any]:
    """Every venue's budget now: pause, each bucket's tokens left of its size, counters."""
    out: dict[str, Any] = {}
    for raw in sorted(client.smembers(VENUES)):
        venue = raw.decode() if isinstance(raw, bytes) else str(raw)
        prefix = f"mm:budget:{{{venue}}}"
        pause_ms = int(client.pttl(f"{prefix}:pause"))
        reason = client.get(f"{prefix}:pause") if pause_ms > 0 else None
        now_s, now_us = client.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        scopes = []
        for key, text in client.hgetall(f"{prefix}:scopes").items():
            info = json.loads(text)
            tokens, ts = client.hmget(key, ["tokens", "ts"])
            have = float(tokens) if tokens is not None else info["capacity"]
            if ts is not None:
                have = min(info["capacity"], have + (now_ms - int(ts)) * info["rate_per_ms"])
            key_text = key.decode() if isinstance(key, bytes) else str(key)
            scopes.append({**info, "key": key_text, "left": round(have, 3)})
        stats = {
            (k.decode() if isinstance(k, bytes) else str(k)): int(v)
            for k, v in client.hgetall(f"{prefix}:stats").items()
        }
        out[venue] = {
            "paused_ms": max(pause_ms, 0),
            "pause_reason": (reason.decode() if isinstance(reason, bytes) else reason) or "",
            "scopes": sorted(scopes, key=lambda s: s["name"]),
            "stats": stats,
        }
    return out
