"""Binance's rate limits, as a venue enforces them: request weight per IP per minute, orders per
account per 10 s and per minute, in fixed windows.

Going over answers 429 with `Retry-After` (seconds to the window's end). A client that keeps
sending while told to wait collects strikes; at `ban_after` strikes its IP is banned: 418 with
`Retry-After` until the ban ends, for every request. Every answer carries the figures used so
far, as Binance's headers (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `-1M`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from mmtasks.sim.binance.errors import BinanceError

MINUTE_MS = 60_000
TEN_S_MS = 10_000
HISTORY_MINUTES = 120


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """The limits one simulator enforces (Binance USDⓈ-M's defaults)."""

    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after: int = 3  # requests sent while told to wait before the IP is banned
    ban_s: int = 120


@dataclass
class _Window:
    start_ms: int = 0
    used: int = 0

    def at(self, now_ms: int, size_ms: int) -> _Window:
        start = now_ms - now_ms % size_ms
        if start != self.start_ms:
            self.start_ms, self.used = start, 0
        return self


@dataclass
class _Client:
    weight: _Window = field(default_factory=_Window)
    wait_until_ms: int = 0
    strikes: int = 0
    banned_until_ms: int = 0


@dataclass
class _Account:
    ten_s: _Window = field(default_factory=_Window)
    minute: _Window = field(default_factory=_Window)


def _seconds_until(now_ms: int, end_ms: int) -> str:
    return str(max(1, math.ceil((end_ms - now_ms) / 1000)))


class RateLimits:
    """Counts weight and orders; admits a request or raises the 429 / 418 Binance would send."""

    def __init__(self, config: LimitConfig, clock: Callable[[], int]) -> None:
        self.config = config
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._accounts: dict[str, _Account] = {}
        self.answered_429 = 0
        self.answered_418 = 0
        self.everyone_banned_until_ms = 0
        self._history: dict[int, dict[str, int]] = {}  # minute start -> ip -> weight used

    def admit(self, ip: str, weight: int) -> dict[str, str]:
        """Count a request of weight from ip; return its headers, or raise 429 / 418."""
        now, cfg = self.clock(), self.config
        client = self._clients.setdefault(ip, _Client())
        banned_until = max(client.banned_until_ms, self.everyone_banned_until_ms)
        if banned_until > now:
            raise self._banned(now, banned_until)
        if client.wait_until_ms > now:
            client.strikes += 1
            if client.strikes >= cfg.ban_after:
                raise self._banned(now, self.ban(ip, cfg.ban_s))
        window = client.weight.at(now, MINUTE_MS)
        if window.used + weight > cfg.weight_per_minute:
            client.wait_until_ms = window.start_ms + MINUTE_MS
            raise self._too_many(
                -1003,
                f"Too much request weight used; current limit is {cfg.weight_per_minute} "
                "request weight per 1 MINUTE. Please use WebSocket Streams for live updates "
                "to avoid polling the API.",
                now,
                client.wait_until_ms,
                window.used,
            )
        window.used += weight
        minute = self._history.setdefault(window.start_ms, {})
        minute[ip] = window.used
        if len(self._history) > HISTORY_MINUTES:
            del self._history[min(self._history)]
        return {"X-MBX-USED-WEIGHT-1M": str(window.used)}

    def count_order(self, ip: str, account: str) -> dict[str, str]:
        """Count one new order of account; return its headers, or raise 429 (-1015)."""
        now, cfg = self.clock(), self.config
        acct = self._accounts.setdefault(account, _Account())
        ten, minute = acct.ten_s.at(now, TEN_S_MS), acct.minute.at(now, MINUTE_MS)
        for window, limit, size, name in (
            (ten, cfg.orders_per_10s, TEN_S_MS, "10 SECOND"),
            (minute, cfg.orders_per_minute, MINUTE_MS, "1 MINUTE"),
        ):
            if window.used + 1 > limit:
                client = self._clients.setdefault(ip, _Client())
                client.wait_until_ms = window.start_ms + size
                raise self._too_many(
                    -1015,
                    f"Too many new orders; current limit is {limit} orders per {name}.",
                    now,
                    client.wait_until_ms,
                    self.used_weight(ip),
                )
        ten.used += 1
        minute.used += 1
        return {"X-MBX-ORDER-COUNT-10S": str(ten.used), "X-MBX-ORDER-COUNT-1M": str(minute.used)}

    def ban(self, ip: str, seconds: float) -> int:
        """Ban ip (every IP when '*') for seconds; return when the ban ends (ms)."""
        until = self.clock() + int(seconds * 1000)
        if ip == "*":
            self.everyone_banned_until_ms = until
        client = self._clients.setdefault(ip, _Client())
        client.banned_until_ms, client.strikes, client.wait_until_ms = until, 0, 0
        return until

    def _banned(self, now: int, until: int) -> BinanceError:
        self.answered_418 += 1
        return BinanceError(
            418,
            -1003,
            f"Way too much request weight used; IP banned until {until}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
            {"Retry-After": _seconds_until(now, until)},
        )

    def weight_by_minute(self) -> list[dict[str, object]]:
        """Return the weight each IP used in each minute so far (the newest 120), oldest first."""
        return [
            {"minute_ms": start, "by_ip": dict(used), "max": max(used.values(), default=0)}
            for start, used in sorted(self._history.items())
        ]

    def used_weight(self, ip: str) -> int:
        """Return the weight ip used in the current minute."""
        client = self._clients.get(ip)
        return client.weight.at(self.clock(), MINUTE_MS).used if client else 0

    def _too_many(self, code: int, msg: str, now: int, until: int, used: int) -> BinanceError:
        self.answered_429 += 1
        headers = {"Retry-After": _seconds_until(now, until), "X-MBX-USED-WEIGHT-1M": str(used)}
        return BinanceError(429, code, msg, headers)
