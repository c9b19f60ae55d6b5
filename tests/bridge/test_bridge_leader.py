"""Two bridges at once: one streams, the other stands by and takes over when it dies."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib

from bridge.leader import LEADER_TTL_MS, leader_of
from mmtasks.state.keys import keys_for
from tests.bridge.conftest import inbox, queued_tasks, wait_connected
from tests.kit.poll import eventually
from tests.kit.procs import connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
A = "AAAUSDT"


def started_reconciles(client: redis_lib.Redis) -> int:
    """Return how many bridges have opened their streams (each asks A for a reconcile)."""
    wanted = ("mmtasks.symbol.reconcile", [A, "bridge start"])
    return sum(task == wanted for task in queued_tasks(client, A.lower()))


def test_a_second_bridge_stands_by_appends_nothing_and_takes_over_when_the_leader_dies(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.connector.sim_client import SimControlClient

    with connector("--feed", "none", "--symbols", A) as addr:
        exchange, sim = ExchangeClient(addr), SimControlClient(addr)
        first = start_bridge(addr, "--symbols", A, env={"MMTASKS_HOST": "host-a"})
        wait_connected(redis_client)
        second = start_bridge(addr, "--symbols", A, env={"MMTASKS_HOST": "host-b"})
        eventually(lambda: leader_of(redis_client)["standby"] != [], timeout_s=20)
        assert leader_of(redis_client) == {
            "leader": f"host-a:{first.proc.pid}",
            "standby": [f"host-b:{second.proc.pid}"],
        }

        order, _ = exchange.place_order(A, "BUY", "90", "2", "ld1")
        sim.fill_order(A, order_id=order.order_id, quantity="1")
        eventually(lambda: len(inbox(redis_client, A)) >= 2)

        # The leader is killed outright: the standby leads once the lock's TTL has passed.
        first.proc.kill()
        eventually(
            lambda: leader_of(redis_client)["leader"] == f"host-b:{second.proc.pid}",
            timeout_s=LEADER_TTL_MS / 1000 * 5,
        )
        # Its order stream is open once it has asked for its start-up reconcile (the first
        # bridge asked for one too; the heartbeat still says what the dead leader wrote).
        eventually(lambda: started_reconciles(redis_client) == 2)
        sim.fill_order(A, order_id=order.order_id)
        eventually(lambda: [e["executed_qty"] for _, e in inbox(redis_client, A)][-1] == "2")
        # Each order update reached the inbox once: a standby that streamed too would have
        # appended the first two again, before or after the takeover.
        assert [e["executed_qty"] for _, e in inbox(redis_client, A)] == ["0", "1", "2"]
        sim.inject_price(A, "91")
        eventually(lambda: redis_client.hget(keys_for(A).tick, "price") == "91")
        exchange.close()
        sim.close()
