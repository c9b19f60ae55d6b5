"""What one alert message says when it carries several alerts of one key (pure)."""

from __future__ import annotations

from mmtasks.alerts import fleet_state_key, more_severe
from mmtasks.tasks.alerts import message

# 2026-12-06 12:00:00 UTC and 40 s later, in ms.
T0 = 1_796_558_400_000
T40 = T0 + 40_000


def item(body: str, first_ms: int, n: int = 1, severity: str = "warning", **kw: object) -> dict:
    return {
        "title": "fleet ACTIVE -> REDUCING",
        "body": body,
        "severity": severity,
        "n": n,
        "first_ms": first_ms,
        "last_ms": first_ms + (n - 1) * 1000,
        **kw,
    }


def test_gathered_alerts_are_listed_in_order_with_their_times_and_figures() -> None:
    items = [item("exposure 120 over 100", T0), item("exposure 130 over 100", T40, n=3)]

    title, body, severity = message(items, 4, 300)

    assert title == "[mmtasks] fleet ACTIVE -> REDUCING"
    assert body.splitlines() == [
        "12:00:00 UTC exposure 120 over 100",
        "12:00:40 UTC exposure 130 over 100 (x3, the last at 12:00:42 UTC)",
        "(x4: 4 alerts of this kind, gathered into one message; at most one per 300s)",
    ]
    assert severity == "warning"


def test_alerts_beyond_the_listed_ones_are_counted_and_the_worst_severity_wins() -> None:
    items = [item("a", T0, severity="info"), item("b", T40, severity="failure", title="other")]

    title, body, severity = message(items, 7, 60)

    assert title == "[mmtasks] other (and 1 other alerts, listed in order)"
    assert body.splitlines()[:3] == [
        "(5 earlier alerts not listed)",
        "12:00:00 UTC fleet ACTIVE -> REDUCING: a",
        "12:00:40 UTC other: b",
    ]
    assert severity == "failure"


def test_a_burst_of_one_alert_reads_as_itself_with_its_count() -> None:
    assert message([item("disk", T0, n=50)], 50, 300) == (
        "[mmtasks] fleet ACTIVE -> REDUCING",
        "disk\n(x50: 50 alerts of this kind, gathered into one message; at most one per 300s)",
        "warning",
    )


def test_each_fleet_transition_has_its_own_key_and_worse_states_are_urgent() -> None:
    assert fleet_state_key("REDUCING", "HALTED") == "fleet-state:REDUCING-HALTED"
    assert fleet_state_key("ACTIVE", "REDUCING") != fleet_state_key("REDUCING", "ACTIVE")
    assert more_severe("ACTIVE", "REDUCING") and more_severe("REDUCING", "HALTED")
    assert more_severe("ACTIVE", "HALTED")
    assert not more_severe("HALTED", "ACTIVE") and not more_severe("REDUCING", "ACTIVE")
    assert not more_severe("HALTED", "HALTED")
