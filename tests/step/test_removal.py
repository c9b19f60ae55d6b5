"""Removing a symbol: it stays in the fleet until none of its orders rests, whatever the venue
does meanwhile (docs/operations.md, "Removing a symbol")."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mmtasks.domain import queue_for
from mmtasks.errors import DependencyError, OperationalError, VenueAuthError
from mmtasks.signal import pipeline
from mmtasks.state.keys import SYMBOLS
from mmtasks.tasks.beat import _recover
from mmtasks.trading.step import now_ms
from tests.kit.configs import GRID
from tests.kit.desk import Desk
from tests.signal.kit import RAW

D = Decimal


class CancelsFail:
    """The venue while its cancels fail with `error` (a connector blip, refused keys...)."""

    def __init__(self, venue: Any, error: Exception) -> None:
        self._venue, self.error = venue, error
        self.refused: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def cancel_order(self, symbol: str, **ref: Any) -> Any:
        if self.error is not None:
            self.refused.append(ref["client_order_id"])
            raise self.error
        return self._venue.cancel_order(symbol, **ref)


def in_fleet(desk: Desk) -> bool:
    return bool(desk.text.sismember(SYMBOLS, desk.symbol))


def retry_now(desk: Desk) -> None:
    """Make the symbol's retry due, as time passing would."""
    desk.text.hset(desk.keys.state, "retry_at_ms", str(now_ms()))


def step_failing_with(desk: Desk, error: type[Exception] = VenueAuthError) -> None:
    """Run a step that may fail: the task raises an error that is not temporary (Celery logs
    it); what the symbol recorded is what the test reads."""
    with contextlib.suppress(error):
        desk.step()


def removed_while_cancels_fail(desk: Desk, error: Exception) -> CancelsFail:
    """BUY 90 and 80 rest at 100; the symbol is removed while every cancel fails."""
    desk.init(GRID)
    desk.trade("100")
    venue = CancelsFail(desk.venue, error)
    desk.rt._exchange = venue
    desk.command("remove")
    step_failing_with(desk)
    return venue


@pytest.mark.parametrize(
    "error",
    [
        DependencyError("connector", "connector unavailable"),  # a blip: retried as always
        VenueAuthError("the venue refused the API key"),  # would be ERROR for a trading symbol
    ],
    ids=["temporary", "operational"],
)
def test_a_removal_whose_cancels_fail_is_retried_until_they_pass_and_only_then_leaves_the_fleet(
    desk: Desk, error: Exception
) -> None:
    # Arrange + Act 1: removed while the venue refuses the cancel of the first order.
    venue = removed_while_cancels_fail(desk, error)

    # Assert 1: removed but still in the fleet, backing off, never ERROR (beat's recovery
    # would make it ACTIVE again); both orders still rest.
    state = desk.state()
    assert (state["status"], state["retry_count"]) == ("REMOVED", "1")
    assert int(state["retry_at_ms"]) > int(state["degraded_since_ms"])
    assert in_fleet(desk)
    assert len(venue.refused) == 1
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]

    # Act 2: still failing at the retry, long after `degraded_to_error_s`.
    desk.text.hset(desk.keys.state, "degraded_since_ms", str(now_ms() - 3_600_000))
    retry_now(desk)
    step_failing_with(desk)

    # Assert 2: still REMOVED and retrying.
    assert (desk.state()["status"], desk.state()["retry_count"]) == ("REMOVED", "2")
    assert in_fleet(desk) and len(venue.refused) == 2

    # Act 3: the venue answers again; once the retry is due beat's healer wakes the symbol (it
    # is still in the fleet set beat reads).
    venue.error = None
    retry_now(desk)
    assert beat_recovers(desk)["woken"] == [desk.symbol]
    desk.step()

    # Assert 3: both orders cancelled, every slot free, and the symbol out of the fleet set.
    assert desk.resting() == []
    assert {s["status"] for s in desk.slots().values()} == {"FREE"}
    assert desk.state()["status"] == "REMOVED"
    assert not in_fleet(desk)


def test_a_fill_that_beats_the_removals_cancel_reaches_the_ledger_through_reconcile(
    desk: Desk, ledger: str
) -> None:
    # Arrange: BUY 90 and 80 rest at 100; the price falls to 89 and BUY 90 fills, but its
    # order update never reaches the symbol (a stream that dropped it).
    desk.init(GRID)
    desk.trade("100")
    desk.move("89")
    desk.take_updates()

    # Act 1: removed: BUY 80 is cancelled; BUY 90's cancel finds it already filled.
    desk.command("remove")
    desk.step()

    # Assert 1: BUY 90's slot still holds its order as far as the symbol knows: in the fleet.
    assert desk.resting() == []
    assert [s["price"] for s in desk.slots().values() if s["status"] == "LOCKED"] == ["90"]
    assert in_fleet(desk)

    # Act 2: a reconcile (the bridge's on reconnect, beat's every 5 minutes).
    desk.command("reconcile")
    desk.step()

    # Assert 2: the fill is the symbol's and the ledger's; then it leaves the fleet.
    assert desk.position()["qty"] == 1
    with psycopg.connect(ledger) as conn:
        assert conn.execute("SELECT side, price FROM fills").fetchall() == [("BUY", D(90))]
    assert {s["status"] for s in desk.slots().values()} == {"FREE"}
    assert not in_fleet(desk)


def test_a_removed_symbol_added_again_before_its_worker_let_it_go_is_in_the_fleet(
    desk: Desk,
) -> None:
    # Arrange: removed with nothing resting: the step takes it out of the fleet set.
    desk.init(GRID)
    desk.command("remove")
    desk.step()
    assert not in_fleet(desk)

    # Act: added again (add_symbol puts it in the set first; suppose the removal's step took it
    # out after that) and its init applied.
    desk.init(GRID)
    desk.text.srem(SYMBOLS, desk.symbol)
    desk.trade("100")

    # Assert: the step that made it ACTIVE put it back in the fleet; it trades.
    assert desk.state()["status"] == "ACTIVE"
    assert in_fleet(desk)
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]


def beat_recovers(desk: Desk) -> dict[str, Any]:
    """Run beat's recovery round (heal_fleet's part) over the fleet set, as every 2 s. The
    tasks the desk's feed queued are dropped first: the desk ran its steps itself."""
    desk.text.delete(queue_for(desk.symbol))
    return _recover(desk.rt, sorted(desk.text.smembers(SYMBOLS)))  # type: ignore[arg-type]


class Unreachable:
    """The venue while the connector does not answer at all."""

    def __init__(self, venue: Any) -> None:
        self._venue, self.down = venue, True

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._venue, name)
        if self.down and callable(attr):

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise DependencyError("connector", "connector unavailable")

            return fail
        return attr


def test_a_removal_read_by_a_step_that_fails_and_goes_to_error_is_not_undone_by_recovery(
    desk: Desk,
) -> None:
    # Arrange: BUY 90 and 80 rest; the connector has been down for longer than
    # degraded_to_error_s and a reconcile is owed; the retry is due.
    desk.init(GRID)
    desk.trade("100")
    limit_ms = int(desk.rt.settings.degraded_to_error_s * 1000)
    desk.text.hset(
        desk.keys.state,
        mapping={
            "degraded_since_ms": str(now_ms() - limit_ms - 1000),
            "retry_count": "3",
            "retry_at_ms": str(now_ms()),
            "needs_reconcile": "1",
        },
    )
    venue = Unreachable(desk.venue)
    desk.rt._exchange = venue

    # Act 1: removed; the step that reads the removal fails in its reconcile (before it could
    # commit the removal): the symbol goes to ERROR, the removal still in its inbox.
    desk.command("remove")
    desk.step()
    assert desk.state()["status"] == "ERROR" and in_fleet(desk)

    # Act 2: beat's recovery sends `recover` behind the removal; the connector answers again.
    assert beat_recovers(desk)["recovery_attempted"] == [desk.symbol]
    venue.down = False
    retry_now(desk)
    desk.step()
    desk.trade("100")

    # Assert: the removal wins: REMOVED, nothing rests, out of the fleet.
    assert desk.state()["status"] == "REMOVED"
    assert desk.resting() == []
    assert not in_fleet(desk)


def test_a_symbol_in_error_removed_before_beats_recover_arrives_stays_removed(
    desk: Desk,
) -> None:
    # Arrange: BUY 90 and 80 rest; the symbol is in ERROR.
    desk.init(GRID)
    desk.trade("100")
    desk.text.hset(desk.keys.state, mapping={"status": "ERROR", "last_error": "drill"})

    # Act: removed; beat, which still sees ERROR, sends `recover`; one step applies both.
    desk.command("remove")
    assert beat_recovers(desk)["recovery_attempted"] == [desk.symbol]
    desk.step()
    desk.trade("100")

    # Assert
    assert desk.state()["status"] == "REMOVED"
    assert desk.resting() == []
    assert not in_fleet(desk)


def test_a_removed_symbol_whose_config_is_unreadable_cancels_its_orders_and_leaves(
    desk: Desk,
) -> None:
    # Arrange: BUY 90 and 80 rest; the stored strategy becomes unreadable: ERROR, and the
    # reconcile it asks for cannot run (no rules to run it with).
    desk.init(GRID)
    desk.trade("100")
    desk.text.hset(desk.keys.config, "strategy", '{"kind": "nope"}')
    step_failing_with(desk, OperationalError)
    assert (desk.state()["status"], desk.state()["needs_reconcile"]) == ("ERROR", "1")

    # Act
    desk.command("remove")
    desk.settle()

    # Assert
    assert desk.resting() == []
    assert desk.state()["status"] == "REMOVED"
    assert not in_fleet(desk)


def test_a_removed_signal_symbol_whose_stage_fails_stays_removed(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a signal symbol, removed with nothing resting: out of the fleet.
    desk.init({**RAW, "kind": "signal"})
    desk.trade("100")
    desk.command("remove")
    desk.step()
    assert (desk.state()["status"], in_fleet(desk)) == ("REMOVED", False)

    # Act: its pipeline fails on every tick that still reaches it (a bug in a stage), past
    # the stage's restarts, which escalates for a trading symbol.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("indicator bug")

    monkeypatch.setattr(pipeline, "step", broken)
    for price in ("101", "102", "103", "104", "105"):
        desk.move(price)
        desk.step("price")

    # Assert: still REMOVED and out of the fleet; beat has nothing to recover.
    assert (desk.state()["status"], in_fleet(desk)) == ("REMOVED", False)
    assert beat_recovers(desk)["recovery_attempted"] == []
