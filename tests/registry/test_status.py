"""Why a symbol is unhealthy, as the status task reports it."""

from __future__ import annotations

import pytest

from mmtasks.registry.status import problems_of


@pytest.mark.parametrize(
    ("registry", "state", "consumers", "age_ms", "expected"),
    [
        ("ACTIVE", "ACTIVE", ["w1@h"], 1_000, []),
        ("PAUSED", "PAUSED", ["w1@h"], None, []),
        ("ACTIVE", None, ["w1@h"], 1_000, ["no state in Redis: run mmtasks.admin.rehydrate"]),
        ("ACTIVE", "ERROR", ["w1@h"], 1_000, ["state ERROR but the registry says ACTIVE: boom"]),
        ("ACTIVE", "ACTIVE", [], 1_000, ["0 workers consume its queue, expected exactly one"]),
        (
            "ACTIVE",
            "ACTIVE",
            ["a@h", "b@h"],
            1_000,
            ["2 workers consume its queue, expected exactly one: a@h, b@h"],
        ),
        ("ACTIVE", "ACTIVE", None, 1_000, ["consumer count unknown: no worker answered"]),
        ("ACTIVE", "ACTIVE", ["w1@h"], None, ["no price received yet"]),
        ("ACTIVE", "ACTIVE", ["w1@h"], 45_000, ["last price is 45s old (stale after 30s)"]),
    ],
)
def test_problems_name_what_is_wrong(
    registry: str,
    state: str | None,
    consumers: list[str] | None,
    age_ms: int | None,
    expected: list[str],
) -> None:
    assert problems_of(registry, state, consumers, age_ms, 30, "boom") == expected
