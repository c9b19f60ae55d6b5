"""Admin calls while Postgres is unreachable: halt still works, the worker stays up."""

from __future__ import annotations

import pytest
import redis as redis_lib

from mmtasks.state.keys import FLEET, SYMBOLS
from tests.admin.calls import Admin
from tests.admin.conftest import LISTED, is_alive
from tests.kit.env import fleet_env
from tests.kit.procs import Worker, connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:9/test?connect_timeout=1"


def test_halt_works_while_postgres_is_down_and_registry_calls_fail_cleanly(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:
    # Arrange: a control worker whose Postgres is unreachable from the start.
    redis_client.sadd(SYMBOLS, LISTED[0])
    with connector("--feed", "none", "--symbols", ",".join(LISTED)) as addr:
        env = fleet_env(redis_url, UNREACHABLE_DB, addr)
        worker = Worker(["control"], env, name="control").wait_ready()
        admin = Admin(env)
        try:
            # Act
            halted = admin.call("halt", reason="database outage drill")
            [listed_id] = admin.sent_ids([("list_symbols", {})])
            listed = admin.app_result(listed_id)
            alive = is_alive(worker)
        finally:
            worker.stop()

    # Assert: the fleet is halted and every symbol woken; the audit gap is reported;
    # a call that needs the registry answers ok: false naming the database; the worker lives.
    assert halted["ok"] and halted["fleet"] == "HALTED"
    assert halted["audit"].startswith("not written")
    assert redis_client.hget(FLEET, "state") == "HALTED"
    assert redis_client.llen(LISTED[0].lower()) == 1
    assert listed.state == "SUCCESS"
    assert listed.result["ok"] is False
    assert listed.result["error"].startswith("postgres: the registry database (DATABASE_URL)")
    assert alive
