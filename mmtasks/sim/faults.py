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
        self._symbol_fails: dict[str, tuple[int, str]] = {}  # symbol -> (calls left, code)
        self._symbol_latency: dict[str, int] = {}  # symbol -> ms added to its calls

    @property
    def per_symbol(self) -> bool:
        """Return True when a fault or latency is set for one symbol's calls."""
        return bool(self._symbol_fails or self._symbol_latency)

    def fail_symbol(self, symbol: str, count: int, code: str = "UNAVAILABLE") -> None:
        """Fail the next `count` calls that name symbol (0: stop failing them)."""
        code = _fault_code(code)
        if count < 0:
            raise ValidationError(f"count must be >= 0, received {count}")
        with self._lock:
            if count:
                self._symbol_fails[symbol] = (count, code)
            else:
                self._symbol_fails.pop(symbol, None)

    def set_symbol_latency(self, symbol: str, latency_ms: int) -> None:
        """Add latency_ms to every call that names symbol (0: none)."""
        if latency_ms < 0:
            raise ValidationError(f"latency_ms must be >= 0, received {latency_ms}")
        with self._lock:
            if latency_ms:
                self._symbol_latency[symbol] = latency_ms
            else:
                self._symbol_latency.pop(symbol, None)

    def check_symbols(self, method: str, symbols: set[str]) -> int:
        """Raise the failure scheduled for one of symbols' calls; else return the latency (ms)
        to add to this call (the largest of its symbols')."""
        with self._lock:
            for symbol in sorted(symbols & set(self._symbol_fails)):
                left, code = self._symbol_fails[symbol]
                if left > 1:
                    self._symbol_fails[symbol] = (left - 1, code)
                else:
                    del self._symbol_fails[symbol]
                raise InjectedFaultError(code, f"{method} for {symbol} failed by test control")
            return max((self._symbol_latency.get(s, 0) for s in symbols), default=0)

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
        code = _fault_code(code)
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


def _fault_code(code: str) -> str:
    code = (code or "UNAVAILABLE").upper()
    if code not in FAULT_CODES:
        raise ValidationError(
            f"code must be a gRPC status name such as UNAVAILABLE, received {code!r}"
        )
    return code
