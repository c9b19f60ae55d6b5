"""Removing a symbol: it stays in the fleet until none of its orders rests, whatever the venue
does meanwhile (docs/operations.md, "Removing a symbol")."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mmtasks.errors import DependencyError, VenueAuthError
from mmtasks.state.keys import SYMBOLS
from mmtasks.trading.step import now_ms
from tests.kit.configs import GRID
from tests.kit.desk import Desk

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


def step_failing(desk: Desk) -> None:
    """Run a step that may fail: the task raises an error that is not temporary (Celery logs
    it); what the symbol recorded is what the test reads."""
    with contextlib.suppress(VenueAuthError):
        desk.step()


def removed_while_cancels_fail(desk: Desk, error: Exception) -> CancelsFail:
    """BUY 90 and 80 rest at 100; the symbol is removed while every cancel fails."""
    desk.init(GRID)
    desk.trade("100")
    venue = CancelsFail(desk.venue, error)
    desk.rt._exchange = venue
    desk.command("remove")
    step_failing(desk)
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
    step_failing(desk)

    # Assert 2: still REMOVED and retrying.
    assert (desk.state()["status"], desk.state()["retry_count"]) == ("REMOVED", "2")
    assert in_fleet(desk) and len(venue.refused) == 2

    # Act 3: the venue answers again; the retry is due and the symbol is woken (beat or tick).
    venue.error = None
    retry_now(desk)
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
