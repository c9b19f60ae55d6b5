"""Why a symbol is unhealthy, as the status task reports it."""

from __future__ import annotations

import pytest

from mmtasks.registry.status import by_host, consumer_problem, lock_holder, problems_of

NOBODY = "nobody consumes its queue: start a worker for it (`mmtasks queues`)"


@pytest.mark.parametrize(
    ("registry", "state", "consumers", "age_ms", "expected"),
    [
        ("ACTIVE", "ACTIVE", ["w1@h"], 1_000, []),
        ("PAUSED", "PAUSED", ["w1@h"], None, []),
        ("ACTIVE", None, ["w1@h"], 1_000, ["no state in Redis: run mmtasks.admin.rehydrate"]),
        ("ACTIVE", "ERROR", ["w1@h"], 1_000, ["state ERROR but the registry says ACTIVE: boom"]),
        ("ACTIVE", "ACTIVE", [], 1_000, [NOBODY]),
        ("ACTIVE", "ACTIVE", ["a@h", "b@h"], 1_000, []),  # two consumers: fine, one drains
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


@pytest.mark.parametrize(
    ("consumers", "min_hosts", "expected"),
    [
        (["symbols0@host-a"], 1, None),
        (["symbols0@host-a", "symbols0@host-b"], 2, None),
        (["symbols0@host-a", "symbols1@host-b", "symbols0@host-c"], 2, None),
        (
            ["symbols0@host-a", "symbols1@host-a"],
            2,
            "consumed on 1 host (host-a) but MMTASKS_MIN_HOSTS is 2: start a standby worker "
            "for its queue on another host (docs/deploy.md)",
        ),
        ([], 2, NOBODY),
        (None, 2, "consumer count unknown: no worker answered"),
    ],
)
def test_a_queue_wants_consumers_on_min_hosts_distinct_hosts(
    consumers: list[str] | None, min_hosts: int, expected: str | None
) -> None:
    assert consumer_problem(consumers, min_hosts) == expected


def test_consumers_are_grouped_by_the_host_of_their_node_name() -> None:
    nodes = ["symbols1@host-b", "symbols0@host-a", "btcusdt@host-b"]

    assert by_host(nodes) == {
        "host-a": ["symbols0@host-a"],
        "host-b": ["btcusdt@host-b", "symbols1@host-b"],
    }


def test_the_lock_holder_is_read_from_the_token() -> None:
    assert lock_holder(b"host-b:4242/0a1b2c3d4e5f") == "host-b:4242"
    assert lock_holder(None) is None
    assert lock_holder("a-token-without-holder") is None  # an older worker's token
