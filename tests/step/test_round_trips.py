"""What a price step costs in Redis round trips: the wall of a worker that runs many symbols.

Each round trip is a send and a wait on the socket (and, in a worker, a wait for the GIL); the
step sends its own through state/wire.py, one `send_packed_command` each, counted here. A price
task inside the quiet band is one (take.lua answers `quiet`); a step that sends nothing is two:
the lock with the snapshot (take.lua), then its commit with the metrics and the let-go
(commit_let_go.lua).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.runtime import Runtime
from mmtasks.settings import settings_for
from mmtasks.state.keys import BEAT_LOCK
from tests.kit.configs import GRID, sim_venue
from tests.kit.desk import Desk, desk_for

SYMBOL = "GRIDUSDT"


class CountingConnection(redis_lib.Connection):
    """A redis-py connection that counts what it sends (one send per command or pipeline)."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(redis_url: str, ledger: str, step_ledger: tuple[str, Any]) -> Iterator[Desk]:
    """Return GRIDUSDT settled at 100 on a runtime whose Redis connections count round trips."""
    client = redis_lib.Redis.from_url(redis_url, connection_class=CountingConnection)
    rt = Runtime(
        settings_for(redis_url, ledger),
        _redis=client,
        _exchange=sim_venue(SYMBOL),
        _pg=step_ledger[1],
    )
    rt.redis.set(BEAT_LOCK, "test")
    desk = desk_for(rt, app, SYMBOL)
    desk.init(GRID)
    desk.trade("100")
    yield desk
    desk.close()
    client.close()


def round_trips(desk: Desk, price: str, keep_band: bool) -> tuple[int, Any]:
    desk.move(price)
    if not keep_band:
        desk.text.delete(desk.keys.band)
    before = CountingConnection.sends
    result = desk.step("price")
    return CountingConnection.sends - before, result


def test_a_price_step_that_sends_nothing_is_two_round_trips(counted: Desk) -> None:
    round_trips(counted, "100.1", keep_band=False)  # in-process caches (fleet, beat) warm
    trips, result = round_trips(counted, "100.2", keep_band=False)

    assert result.actions == [] and result.skipped == ""  # the whole step ran
    assert trips == 2
    assert counted.text.exists(counted.keys.band)  # its commit stored the band again
    assert not counted.text.exists(counted.keys.lock)  # and it let go


def test_a_price_task_inside_the_quiet_band_is_one_round_trip(counted: Desk) -> None:
    round_trips(counted, "100.1", keep_band=True)
    trips, result = round_trips(counted, "100.2", keep_band=True)

    assert result.skipped.startswith("quiet")
    assert trips == 1
