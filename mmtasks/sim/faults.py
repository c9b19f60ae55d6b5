"""Fault injection and rate limiting in front of the exchange API: the sim's test-control knobs."""

from __future__ import annotations

import threading
import time

from mmtasks.errors import InjectedFaultError, RateLimitedError, ValidationError

# gRPC status code names a scheduled failure may use (every code but OK).
FAULT_CODES = (
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


class TokenBucket:
    """Allow `rate_per_s` calls per second on average, bursts up to `burst`."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValidationError(f"rate limit must be > 0 calls/s, received {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.burst
        self._at = time.monotonic()

    def try_take(self) -> bool:
        """Take one token; return False when the bucket is empty."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class FaultPlan:
    """Scheduled failures, added latency and the rate limit, checked before every API call."""

    def __init__(self, rate_limit_per_s: float | None = None, latency_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._bucket = TokenBucket(rate_limit_per_s) if rate_limit_per_s else None
        self._fail_count = 0
        self._fail_code = "UNAVAILABLE"
        self._fail_method = ""
        self.latency_ms = 0
        self.set_latency(latency_ms)

    @property
    def active(self) -> bool:
        """Return True when a call may fail: a failure is scheduled or a rate limit is set."""
        # Read without the lock: a stale answer only delays a just-scheduled failure by a call.
        return self._fail_count > 0 or self._bucket is not None

    def set_latency(self, latency_ms: int) -> None:
        """Add latency_ms to every API call from now on."""
        if latency_ms < 0:
            raise ValidationError(f"latency_ms must be >= 0, received {latency_ms}")
        self.latency_ms = latency_ms

    def fail_next(self, count: int, code: str = "UNAVAILABLE", method: str = "") -> None:
        """Fail the next `count` calls (of `method` only, when given) with a gRPC status code."""
        code = (code or "UNAVAILABLE").upper()
        if code not in FAULT_CODES:
            raise ValidationError(
                f"code must be a gRPC status name such as UNAVAILABLE, received {code!r}"
            )
        if count < 0:
            raise ValidationError(f"count must be >= 0, received {count}")
        with self._lock:
            self._fail_count = count
            self._fail_code = code
            self._fail_method = method

    def check(self, method: str, *, rate_limited: bool = True) -> None:
        """Raise the scheduled failure or RateLimitedError for a call of `method`, else pass."""
        with self._lock:
            if self._fail_count > 0 and (not self._fail_method or self._fail_method == method):
                self._fail_count -= 1
                raise InjectedFaultError(
                    self._fail_code, f"{method} failed by test control ({self._fail_code})"
                )
            if rate_limited and self._bucket is not None and not self._bucket.try_take():
                raise RateLimitedError(
                    f"rate limit of {self._bucket.rate_per_s:g} calls/s exceeded, retry later"
                )
