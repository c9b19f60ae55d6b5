"""One rate budget per venue for the whole fleet, held in Redis.

Exchanges limit requests per IP and orders per account, not per process: every process that
talks to a venue (every connector replica, on any host) draws from the same buckets before a
request leaves, with Redis's clock. Each scope the venue defines is a token bucket sized so
that no window of the venue's length ever holds more than the limit (times a safety margin):

- request weight per IP per minute, orders per account per 10 s and per minute (Binance);
- priorities: a cancel may empty a bucket, a reduce-only close nearly, an entry leaves a
  quarter of it, a read half, so under pressure entries wait and cancels do not;
- waiting is bounded per priority: a call that cannot get budget in time fails with
  RateLimitedError (the worker's step stops DEGRADED and is retried), never holds a slot;
- the venue's answers correct the buckets (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-*`);
  a 429 or 418 pauses the venue for every process until its Retry-After has passed.
"""

from __future__ import annotations

from mmtasks.budget.budget import (
    DEFAULT_LIMITS,
    Priority,
    RateBudget,
    VenueLimits,
    budget_status,
    limits_for,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Priority",
    "RateBudget",
    "VenueLimits",
    "budget_status",
    "limits_for",
]
