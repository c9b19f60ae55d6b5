"""The fleet-wide budget on real processes: two connector replicas on one account, low venue
limits, every symbol moved at once: the venue never answers 429, every order is placed in the
end, and a ban stops every process until it ends, no fill lost meanwhile.

The long version (64 symbols, a minute of moves) is `make budget-fleet`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.state.keys import keys_for
from tests.integration.conftest import ledger_rows
from tests.kit.budget_fleet import budget_fleet
from tests.kit.poll import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
D = Decimal


def test_two_replicas_move_every_symbol_under_the_venues_limits_and_a_ban_loses_nothing(
    redis_url: str, ledger_url: str
) -> None:
    # Limits low enough to bind: 4 symbols x 4-8 orders at each move, 16 orders per 10 s.
    with budget_fleet(
        4, redis_url, ledger_url, weight_per_minute=400, orders_per_10s=16, workers=2
    ) as fleet:
        # Arrange: every grid placed at 100 (the simulator's start price).
        fleet.move_all(D(100))
        fleet.settle(timeout_s=120)

        # Act 1: every symbol moved through several levels at once, three times.
        for price in ("103", "101"):
            fleet.move_all(D(price))
            fleet.settle(timeout_s=120)

        # Assert 1: paced, never refused by the venue; within the limit in every minute.
        stats = fleet.stats()
        assert stats["answered_429"] == 0 and stats["answered_418"] == 0
        assert max(m["max"] for m in stats["weight_by_minute"]) <= 400

        # Act 2: the venue bans the IP for 4 s while the market trades through resting orders.
        fleet.control.ban(4)
        fleet.move_all(D(98))  # fills at the venue; the user stream still tells the connector

        # Assert 2: at most one request per replica reached the banned venue (the ones that
        # learned of the ban); trading resumes by itself; every fill is in the ledger once.
        fleet.settle(timeout_s=120)
        assert fleet.stats()["answered_418"] <= 2
        venue_ids = sorted(str(t["id"]) for t in fleet.control._http.get("/_sim/trades").json())

        def ledger_ids() -> list[str]:
            return sorted(str(r[0]) for s in fleet.symbols for r in ledger_rows(ledger_url, s))

        eventually(lambda: ledger_ids() == venue_ids, timeout_s=60)
        assert venue_ids, "the move to 98 must have filled resting orders during the ban"
        # Every worker's position is the venue's.
        for symbol in fleet.symbols:
            qty = D(fleet.redis.hget(keys_for(symbol).position, "qty") or "0")
            assert qty == fleet.exchange.positions(symbol)[0].quantity, symbol
