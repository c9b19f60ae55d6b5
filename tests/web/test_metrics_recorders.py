"""The recorders a worker step calls (mmtasks.metrics) and how they read back."""

from __future__ import annotations

import math

import pytest
import redis as redis_lib

from mmtasks.events import EventType, event_fields
from mmtasks.metrics import (
    BUCKETS_MS,
    Histogram,
    OrderCount,
    bucket_field,
    count_orders,
    metrics_key,
    read_metrics,
    record_step,
)

SYMBOL = "METUSDT"


@pytest.mark.parametrize(
    ("value_ms", "field"),
    [
        (0, "t2o_ms_le_1"),
        (1, "t2o_ms_le_1"),
        (1.01, "t2o_ms_le_2.5"),
        (250, "t2o_ms_le_250"),
        (10_000, "t2o_ms_le_10000"),
        (10_001, "t2o_ms_le_inf"),
    ],
)
def test_an_observation_lands_in_the_smallest_bucket_that_holds_it(
    value_ms: float, field: str
) -> None:
    assert bucket_field("t2o_ms", value_ms) == field


def test_recorded_steps_and_orders_read_back_as_cumulative_histograms_and_counters(
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange + Act: two steps (one sent orders for a tick), orders counted on one pipeline.
    pipe = redis_client.pipeline(transaction=False)
    record_step(pipe, SYMBOL, step_ms=3.0, tick_to_order_ms=7.5)
    record_step(pipe, SYMBOL, step_ms=40.0)
    count_orders(pipe, SYMBOL, OrderCount.PLACED, 4)
    count_orders(pipe, SYMBOL, "cancelled", 1)
    count_orders(pipe, SYMBOL, OrderCount.REJECTED, 0)
    pipe.execute()

    figures = read_metrics(redis_client, [SYMBOL, "NONEUSDT"])

    # Assert
    mine = figures[SYMBOL]
    assert mine.orders == {"placed": 4, "cancelled": 1, "rejected": 0}
    assert (mine.step.count, mine.step.sum_ms) == (2, 43.0)
    cumulative = dict(mine.step.buckets)
    assert (cumulative[2.5], cumulative[5], cumulative[25], cumulative[50]) == (0, 1, 1, 2)
    assert cumulative[math.inf] == 2
    assert (mine.tick_to_order.count, dict(mine.tick_to_order.buckets)[10]) == (1, 1)
    assert figures["NONEUSDT"].orders == {"placed": 0, "cancelled": 0, "rejected": 0}
    assert redis_client.exists(metrics_key(SYMBOL)) and "{metusdt}" in metrics_key(SYMBOL)


def test_order_events_of_a_step_are_counted_by_kind(redis_client: redis_lib.Redis) -> None:
    events = [
        event_fields(EventType.ORDER_CREATED, SYMBOL, {}),
        event_fields(EventType.ORDER_CREATED, SYMBOL, {}),
        event_fields(EventType.ORDER_FILLED, SYMBOL, {}),
        event_fields(EventType.ORDER_CANCELLED, SYMBOL, {}),
        event_fields(EventType.ORDER_REJECTED, SYMBOL, {}),
    ]

    record_step(redis_client, SYMBOL, step_ms=1.0, events=events)

    assert read_metrics(redis_client, [SYMBOL])[SYMBOL].orders == {
        "placed": 2,
        "cancelled": 1,
        "rejected": 1,
    }


def _hist(counts: list[int]) -> Histogram:
    bounds = (*BUCKETS_MS, math.inf)
    cumulative, total = [], 0
    for bound, n in zip(bounds, counts + [0] * (len(bounds) - len(counts)), strict=True):
        total += n
        cumulative.append((bound, total))
    return Histogram(tuple(cumulative), total, 0.0)


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ([], 0.99, None),
        ([100], 0.5, 0.5),  # all in (0, 1]: interpolated
        ([0, 0, 0, 10], 1.0, 10.0),
        ([0, 0, 0, 50, 50], 0.99, 24.7),  # in the (10, 25] bucket
        ([0] * 13 + [5], 0.99, 10_000.0),  # beyond the last bound: that bound
    ],
)
def test_quantiles_are_estimated_within_their_bucket(
    counts: list[int], q: float, expected: float | None
) -> None:
    value = _hist(counts).quantile(q)

    assert value == expected if expected is None else value == pytest.approx(expected)
