"""The fleet-wide rate budget on real Redis: bucket sizes, priorities, bounded waits, pauses;
and through ccxt against the Binance simulator: two venue instances (two connector replicas)
share one allowance, a ban stops both, the venue's headers correct the buckets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis as redis_lib

from mmtasks.budget import Priority, RateBudget, VenueLimits, budget_status
from mmtasks.budget.budget import MAX_WAIT_S, Scope
from mmtasks.errors import RateLimitedError
from mmtasks.sim.binance.limits import LimitConfig
from mmtasks.sim.binance.server import SimServer
from tests.kit.poll import eventually

LIMITS = VenueLimits(weight_per_minute=600, orders_per_10s=50, orders_per_minute=1200)


def test_a_bucket_never_lets_more_than_the_limit_through_any_window() -> None:
    scope = Scope("weight", "k", limit=1200, window_ms=60_000, margin=0.95, burst=0.1)

    # Full bucket + what refills in one window = the limit times the margin.
    assert scope.capacity == pytest.approx(114)
    assert scope.capacity + scope.rate_per_ms * 60_000 == pytest.approx(1140)
    # The venue's figure can only lower a bucket when it leaves less than a full one (114).
    assert not scope.can_lower(1026) and scope.can_lower(1027)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_draws_past_the_bucket_wait_and_a_wait_past_the_bound_is_refused(redis_url: str) -> None:
    async def scenario() -> tuple[float, str]:
        budget = RateBudget(redis_url, "testvenue", LIMITS, ip="a", api_key="k")
        try:
            # Weight bucket: 600 x 0.95 x 0.1 = 57 tokens, refilling 513 per minute (8.55/s).
            await budget.draw(57, 0, Priority.CANCEL)  # empties it
            started = time.monotonic()
            await budget.draw(2, 0, Priority.CANCEL)  # 2 tokens: ~0.23 s
            waited = time.monotonic() - started
            refused = ""
            try:
                await budget.draw(40, 0, Priority.ENTRY)  # 40 + the reserve: ~6 s > 1.5 s
            except RateLimitedError as exc:
                refused = str(exc)
            return waited, refused
        finally:
            await budget.close()

    waited, refused = run(scenario())
    assert 0.1 <= waited <= 1.0
    assert "rate budget is spent" in refused and "entry" in refused


async def drained_weight(redis_url: str, entry_weight: int, timeout_s: float = 10.0) -> Any:
    """Return testvenue's weight bucket once entries have taken it down to their floor."""
    deadline = time.monotonic() + timeout_s
    with redis_lib.Redis.from_url(redis_url) as client:
        while True:
            scopes = budget_status(client).get("testvenue", {}).get("scopes", [])
            weight = next((b for b in scopes if b["name"] == "weight"), None)
            if weight is not None and weight["left"] < 0.25 * weight["capacity"] + entry_weight:
                return weight
            if time.monotonic() > deadline:
                raise AssertionError(f"entries did not drain the weight bucket: {weight}")
            await asyncio.sleep(0.02)


def test_a_budget_drained_by_entries_still_lets_a_cancel_out_in_bounded_time(
    redis_url: str,
) -> None:
    # Weight is what runs out here (the order buckets are roomy), as on a venue whose entries
    # each cost more weight than the order they place.
    limits = VenueLimits(weight_per_minute=600, orders_per_10s=10_000, orders_per_minute=60_000)

    async def scenario() -> tuple[int, float, float, float]:
        budget = RateBudget(redis_url, "testvenue", limits, ip="b", api_key="k")
        granted = 0

        async def entry() -> None:
            nonlocal granted
            try:
                await budget.draw(3, 1, Priority.ENTRY)
                granted += 1
            except RateLimitedError:
                pass

        try:
            # 100 entries at once: they take all they may and queue for the rest. Waited for
            # in Redis (not for a time): until the weight bucket is within one entry of the
            # quarter entries must leave (or below it, which the assertions then refuse).
            crowd = [asyncio.create_task(entry()) for _ in range(100)]
            weight = await drained_weight(redis_url, entry_weight=3)
            started = time.monotonic()
            await budget.draw(1, 0, Priority.CANCEL)
            cancel_s = time.monotonic() - started
            started = time.monotonic()
            await budget.draw(1, 1, Priority.CLOSE)
            close_s = time.monotonic() - started
            for task in crowd:
                task.cancel()
            await asyncio.gather(*crowd, return_exceptions=True)
            return granted, weight["left"] / weight["capacity"], cancel_s, close_s
        finally:
            await budget.close()

    granted, left, cancel_s, close_s = run(scenario())
    print(
        f"\n  entries granted before the cancel: {granted} of 100 waiting; the cancel got budget "
        f"in {cancel_s * 1000:.1f} ms, a reduce-only close in {close_s * 1000:.1f} ms"
    )
    # The entries took what they may and are still waiting: the bucket holds the quarter they
    # must leave (docs/venue.md), so a cancel of weight 1 (it may take the last token) is
    # granted by its first draw, not queued behind them...
    assert 0 < granted < 100
    assert left >= 0.25 - 0.001  # budget_status rounds what is left to 0.001
    # ...and both come out within their priority's bound (past it a draw is refused).
    assert cancel_s < MAX_WAIT_S[Priority.CANCEL]
    assert close_s < MAX_WAIT_S[Priority.CLOSE]


def test_more_draws_at_once_than_the_budget_has_connections_all_get_through(
    redis_url: str,
) -> None:
    # A connector whose every symbol places at one tick draws for all of them at once: more
    # callers than a Redis connection pool holds (redis-py's plain pool refuses its 101st).
    callers = 150
    roomy = VenueLimits(weight_per_minute=60_000, orders_per_10s=10_000, orders_per_minute=60_000)

    async def scenario() -> list[Any]:
        budget = RateBudget(redis_url, "crowdvenue", roomy, ip="c", api_key="k")
        try:
            draws = [budget.draw(1, 1, Priority.ENTRY) for _ in range(callers)]
            return await asyncio.gather(*draws, return_exceptions=True)
        finally:
            await budget.close()

    outcomes = run(scenario())

    # The buckets hold 60,000 x 0.95 x burst weight and orders: none of the 150 needs to wait.
    assert [o for o in outcomes if not isinstance(o, float)] == []
    with redis_lib.Redis.from_url(redis_url) as client:
        stats = budget_status(client)["crowdvenue"]
    assert stats["stats"]["draws:entry"] == callers


def test_a_pause_stops_every_draw_until_it_ends(redis_url: str) -> None:
    async def scenario() -> str:
        first = RateBudget(redis_url, "testvenue", LIMITS, ip="c", api_key="k")
        second = RateBudget(redis_url, "testvenue", LIMITS, ip="c", api_key="k")
        try:
            await first.pause(10, "HTTP 418, Retry-After 10")
            refused = ""
            try:
                await second.draw(1, 0, Priority.CANCEL)  # 10 s > a cancel's 4 s bound
            except RateLimitedError as exc:
                refused = str(exc)
            await first.pause(0.3, "shorter")  # never shortens the one in force
            return refused
        finally:
            await first.close()
            await second.close()

    refused = run(scenario())
    assert "paused" in refused
    status = budget_status(redis_lib.Redis.from_url(redis_url))
    assert 9000 <= status["testvenue"]["paused_ms"] <= 10_000
    assert status["testvenue"]["pause_reason"] == "HTTP 418, Retry-After 10"


# -- through ccxt, against the Binance simulator ---------------------------------------------


@pytest.fixture
def low_sim(make_sim: Callable[..., SimServer]) -> SimServer:
    return make_sim(
        limits=LimitConfig(weight_per_minute=300, orders_per_10s=50, ban_after=2, ban_s=30)
    )


def test_two_replicas_share_one_allowance_and_the_simulator_never_answers_429(
    low_sim: SimServer, make_venue: Callable[..., Any], redis_url: str
) -> None:
    limits = {"weight_per_minute": 300}
    replicas = [
        make_venue(
            base_url=low_sim.base_url,
            budget_redis_url=redis_url,
            budget_limits=limits,
            symbols=("BTCUSDT",),
        )
        for _ in range(2)
    ]
    errors: list[str] = []
    calls = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:  # both hammer the venue with reads for 4 s
        for venue in replicas:
            try:
                venue.open_orders("BTCUSDT")
                calls += 1
            except RateLimitedError as exc:
                errors.append(str(exc))

    stats = httpx.get(f"{low_sim.base_url}/_sim/stats").json()
    assert stats["answered_429"] == 0 and stats["answered_418"] == 0
    used = max(m["max"] for m in stats["weight_by_minute"])
    # 300 x 0.95: at most 285 weight in any minute from both replicas together. Reads may use
    # only the upper half of the bucket (28.5) and its refill (4.3/s), after both replicas'
    # start (exchangeInfo 1 + commissionRate 20 each): a few reads a second, paced, not refused.
    assert used <= 285, stats["weight_by_minute"]
    assert calls >= 5
    print(
        f"\n  {calls} reads went out, {len(errors)} refused by the budget; "
        f"weight used in the minute: {used} of 300"
    )


def test_a_ban_pauses_every_replica_until_its_retry_after_has_passed(
    low_sim: SimServer, make_venue: Callable[..., Any], redis_url: str
) -> None:
    first, second = (
        make_venue(base_url=low_sim.base_url, budget_redis_url=redis_url, symbols=("BTCUSDT",))
        for _ in range(2)
    )
    client = redis_lib.Redis.from_url(redis_url)
    httpx.post(f"{low_sim.base_url}/_sim/ban", json={"seconds": 2}).raise_for_status()

    with pytest.raises(RateLimitedError):
        first.open_orders("BTCUSDT")  # answered 418, Retry-After 2: the venue pauses everyone

    status = eventually(lambda: (s := budget_status(client)["binanceusdm"])["paused_ms"] and s)
    assert "418" in status["pause_reason"]
    sent = httpx.get(f"{low_sim.base_url}/_sim/stats").json()["requests"]
    started = time.monotonic()
    assert second.open_orders("BTCUSDT") == []  # waits out the pause, then goes
    waited = time.monotonic() - started

    stats = httpx.get(f"{low_sim.base_url}/_sim/stats").json()
    assert stats["requests"] == sent + 1  # nothing reached the venue during the pause
    assert stats["answered_418"] == 1
    assert waited >= status["paused_ms"] / 1000 - 0.2
    assert first.open_orders("BTCUSDT") == []
