"""A real venue's rate budget on /metrics and /status: buckets, a pause, waits (real web)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mmtasks.budget import Priority, RateBudget, VenueLimits
from tests.web.conftest import WebProc

LIMITS = VenueLimits(weight_per_minute=1200, orders_per_10s=50, orders_per_minute=600)


def test_metrics_and_status_show_the_budget_and_a_pause(
    start_web: Callable[..., WebProc], web_env: dict[str, str], redis_url: str
) -> None:
    # Arrange: a connector drew from the budget (3 calls) and a 418 paused the venue for 30 s.
    async def connector_side() -> None:
        budget = RateBudget(redis_url, "binanceusdm", LIMITS, ip="host1", api_key="key")
        try:
            await budget.draw(5, 0, Priority.READ)
            await budget.draw(1, 1, Priority.ENTRY)
            await budget.draw(1, 0, Priority.CANCEL)
            await budget.pause(30, "HTTP 418 from binanceusdm, Retry-After 30s")
        finally:
            await budget.close()

    asyncio.run(connector_side())
    web = start_web(web_env)

    # Act
    text = httpx.get(f"{web.url}/metrics", timeout=30).text
    status = httpx.get(f"{web.url}/status", timeout=30).json()

    # Assert: weight bucket 1200 x 0.95 x 0.1 = 114 tokens, 7 drawn, refilling 17.1/s.
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: Any) -> float:
        return samples[(name, frozenset(labels.items()))]

    weight = {"venue": "binanceusdm", "scope": "weight", "key": "host1"}
    assert value("mm_budget_capacity", **weight) == 114
    assert 107 <= value("mm_budget_left", **weight) <= 114
    assert value("mm_budget_limit", venue="binanceusdm", scope="orders_10s", window="10s") == 50
    assert 25 < value("mm_venue_paused_seconds", venue="binanceusdm") <= 30
    assert value("mm_budget_draws_total", venue="binanceusdm", priority="entry") == 1
    assert value("mm_venue_pauses_total", venue="binanceusdm") == 1
    assert value("mm_budget_wait_seconds_count", venue="binanceusdm") == 3
    venue = status["venues"]["binanceusdm"]
    assert venue["pause_reason"] == "HTTP 418 from binanceusdm, Retry-After 30s"
