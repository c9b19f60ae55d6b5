"""Admin tasks against a real control worker, sent by name as `celery -A mmtasks call` does;
one call per task family goes through the `celery call` CLI itself (add_symbol, halt, list).

No symbol workers run here: these tests check what the admin tasks write (registry, audit,
Redis, inboxes, events, NOTIFY) and what they refuse. Trading outcomes are in test_scenarios.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from mmtasks.registry.migrate import migration_files
from mmtasks.state.keys import EVENTS, FLEET, SYMBOLS, keys_for
from tests.admin.calls import celery_call_ids, celery_result
from tests.admin.conftest import GRID, Fleet, audit, is_alive, registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def inbox(fleet: Fleet, symbol: str) -> list[dict[str, Any]]:
    return [json.loads(fields["e"]) for _, fields in fleet.redis.xrange(keys_for(symbol).inbox)]


def events(fleet: Fleet, kind: str) -> list[dict[str, str]]:
    return [fields for _, fields in fleet.redis.xrange(EVENTS) if fields["type"] == kind]


def test_control_worker_migrates_the_registry_when_it_starts(control: Fleet) -> None:
    with psycopg.connect(control.pg_url) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM schema_migrations ORDER BY 1")]

    assert names == [name for _, name, _ in migration_files()]
    assert names[:2] == ["001_init.sql", "002_registry_notify.sql"]


def test_add_symbol_registers_audits_initialises_and_announces(control: Fleet) -> None:
    with psycopg.connect(control.pg_url, autocommit=True) as listener:
        [(schema,)] = listener.execute("SELECT current_schema()").fetchall()
        listener.execute("LISTEN mm_registry")
        [task_id] = control.admin.ids(
            [("add_symbol", {"symbol": "aaausdt", "strategy": GRID, "risk": {"max_position": "3"}})]
        )
        [result] = control.admin.results([task_id])
        # the channel is database-wide: test runs sharing the database hear each other
        notified = []
        for note in listener.notifies(timeout=5):
            payload = json.loads(note.payload)
            if payload.pop("schema") == schema:
                notified.append(payload)
                break

    assert result["ok"] is True, result
    assert (result["symbol"], result["status"], result["version"], result["queue"]) == (
        "AAAUSDT",
        "ACTIVE",
        1,
        "aaausdt",
    )
    assert registry(control.pg_url)["AAAUSDT"] == ("ACTIVE", 1)
    assert audit(control.pg_url, "AAAUSDT") == [("add_symbol", task_id)]
    assert notified == [{"symbol": "AAAUSDT", "status": "ACTIVE"}]
    assert "AAAUSDT" in control.redis.smembers(SYMBOLS)
    [init] = inbox(control, "AAAUSDT")
    assert init["command"] == "init" and init["issued_by"] == f"admin:{task_id}"
    assert init["args"]["strategy"]["interval"] == "10" and init["args"]["risk"]["max_position"]
    assert set(init["args"]["rules"]) == {"tick_size", "step_size", "min_qty", "min_notional"}
    assert [e["symbol"] for e in events(control, "SYMBOL_ADDED")].count("AAAUSDT") == 1


Bad = tuple[str, dict[str, Any], str]

# The bad inputs of the issue (the CLI's own refusal is test_celery_result_prints_the_refusal).
BAD_CALLS: list[Bad] = [
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "exchange": "nasdaq", "strategy": GRID},
        "exchange must be one of sim, binanceusdm, binance, received 'nasdaq'",
    ),
    (
        "add_symbol",
        {"symbol": "BBB/USDT", "strategy": GRID},
        "symbol must be 2-20 letters or digits like 'BTCUSDT', received 'BBB/USDT'",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": {**GRID, "interval": "-5"}},
        "strategy: interval must be > 0, received -5",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": {**GRID, "levels": 3}},
        "strategy: unknown field 'levels', received 3",
    ),
    (
        "add_symbol",
        {"symbol": "CCCUSDT", "strategy": GRID},
        "symbol CCCUSDT is already registered on sim (status ACTIVE, version 1)",
    ),
    ("remove_symbol", {"symbol": "ZZZUSDT"}, "symbol ZZZUSDT is not registered"),
    (
        "remove_symbol",
        {"symbol": "CCCUSDT", "force": "yes"},
        "force: input should be a valid boolean, received 'yes'",
    ),
    (
        "add_symbol",
        {"symbol": 42, "strategy": GRID},
        "symbol must be 2-20 letters or digits like 'BTCUSDT', received 42",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": GRID, "risk": {"max_loss": "9"}},
        "risk: unknown field 'max_loss'",
    ),
    (
        "add_symbol",
        {"symbol": "DUPUSDT", "strategy": GRID},
        "symbol DUPUSDT is not tradable at the connector",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": {**GRID, "interval": "0.001"}},
        "strategy: interval must be at least the tick size",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": GRID, "consumer": "nobody@nowhere"},
        "consumer 'nobody@nowhere' did not answer a ping",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": ["interval", "10"]},
        "strategy must be an object of config fields, received ['interval', '10']",
    ),
    (
        "add_symbol",
        {"symbol": "BBBUSDT", "strategy": GRID, "mode": "long"},
        "unknown argument 'mode': add_symbol takes (symbol, exchange, strategy, risk, consumer)",
    ),
    (
        "update_symbol",
        {"symbol": "CCCUSDT", "strategy": {"buy_levels": -1}},
        "strategy: buy_levels must be between 1 and 200, received -1",
    ),
    (
        "update_symbol",
        {"symbol": "CCCUSDT"},
        "update_symbol needs strategy and/or risk, received neither",
    ),
    ("pause_symbol", {"symbol": "ZZZUSDT"}, "symbol ZZZUSDT is not registered"),
    ("halt", {}, "reason is required: halt takes (reason)"),
]


def test_bad_calls_are_refused_with_a_clear_error_and_change_nothing(control: Fleet) -> None:
    # Arrange: CCCUSDT is registered; remember the registry and Redis before the bad calls.
    assert control.admin.call("add_symbol", symbol="CCCUSDT", strategy=GRID)["ok"]
    registry_before, audit_before = registry(control.pg_url), audit(control.pg_url, "CCCUSDT")
    redis_before = {key: control.redis.type(key) for key in control.redis.scan_iter("mm:*")}
    inbox_before = inbox(control, "CCCUSDT")

    # Act: every bad call at once.
    results = control.admin.call_all([(task, kwargs) for task, kwargs, _ in BAD_CALLS])

    # Assert: each refused with its message; nothing changed; the worker still answers.
    for (task, kwargs, message), result in zip(BAD_CALLS, results, strict=True):
        assert result["ok"] is False, (task, kwargs, result)
        assert message in result["error"], (task, kwargs, result["error"])
    assert registry(control.pg_url) == registry_before
    assert audit(control.pg_url, "CCCUSDT") == audit_before
    assert {k: control.redis.type(k) for k in control.redis.scan_iter("mm:*")} == redis_before
    assert inbox(control, "CCCUSDT") == inbox_before
    assert is_alive(control.workers[0])


def test_celery_result_prints_the_refusal(control: Fleet) -> None:
    [task_id] = celery_call_ids(
        control.env, [("add_symbol", {"symbol": "DDDUSDT", "strategy": {**GRID, "interval": "-1"}})]
    )

    printed = celery_result(control.env, task_id)

    assert "'ok': False" in printed
    assert "strategy: interval must be > 0, received -1" in printed


def test_update_symbol_merges_keys_bumps_the_version_and_sends_update_config(
    control: Fleet,
) -> None:
    assert control.admin.call("add_symbol", symbol="EEEUSDT", strategy=GRID)["ok"]

    changed, unchanged = control.admin.call_all(
        [
            (
                "update_symbol",
                {
                    "symbol": "EEEUSDT",
                    "strategy": {"interval": "20"},
                    "risk": {"max_position": "5"},
                },
            ),
        ]
    ) + control.admin.call_all(
        [
            ("update_symbol", {"symbol": "EEEUSDT", "strategy": {"interval": "20"}}),
        ]
    )

    assert changed["ok"] and changed["changed"] and changed["version"] == 2
    assert changed["strategy"]["interval"] == "20" and changed["strategy"]["buy_levels"] == 2
    assert unchanged["ok"] and unchanged["changed"] is False and unchanged["version"] == 2
    assert registry(control.pg_url)["EEEUSDT"] == ("ACTIVE", 2)
    assert [a for a, _ in audit(control.pg_url, "EEEUSDT")] == ["add_symbol", "update_symbol"]
    update = inbox(control, "EEEUSDT")[-1]
    assert update["command"] == "update_config"
    assert update["args"]["strategy"]["interval"] == "20"
    assert update["args"]["risk"]["max_position"] == "5"


def test_pause_and_resume_symbol_record_the_status_and_send_the_commands(
    control: Fleet,
) -> None:
    assert control.admin.call("add_symbol", symbol="FFFUSDT", strategy=GRID)["ok"]

    paused = control.admin.call("pause_symbol", symbol="FFFUSDT")
    paused_again = control.admin.call("pause_symbol", symbol="FFFUSDT")
    status_while_paused = registry(control.pg_url)["FFFUSDT"]
    resumed = control.admin.call("resume_symbol", symbol="FFFUSDT")

    assert (paused["ok"], paused["status"], paused["changed"]) == (True, "PAUSED", True)
    assert (paused_again["ok"], paused_again["changed"]) == (True, False)
    assert (resumed["ok"], resumed["status"], resumed["changed"]) == (True, "ACTIVE", True)
    assert status_while_paused[0] == "PAUSED" and registry(control.pg_url)["FFFUSDT"][0] == "ACTIVE"
    assert [c["command"] for c in inbox(control, "FFFUSDT")] == ["init", "pause", "pause", "resume"]
    assert [a for a, _ in audit(control.pg_url, "FFFUSDT")] == [
        "add_symbol",
        "pause_symbol",
        "resume_symbol",
    ]


def test_remove_symbol_marks_it_removed_keeps_history_and_allows_adding_it_back(
    control: Fleet,
) -> None:
    assert control.admin.call("add_symbol", symbol="GGGUSDT", strategy=GRID)["ok"]

    removed = control.admin.call("remove_symbol", symbol="GGGUSDT")
    again = control.admin.call("remove_symbol", symbol="GGGUSDT")
    listed = control.admin.call("list_symbols")
    readded = control.admin.call("add_symbol", symbol="GGGUSDT", strategy=GRID)

    assert (removed["ok"], removed["status"], removed["position_left"]) == (True, "REMOVED", "0")
    assert again == {
        "ok": False,
        "task": "remove_symbol",
        "error": "symbol GGGUSDT was removed; expected a registered symbol (see list_symbols)",
    }
    assert "GGGUSDT" not in [s["symbol"] for s in listed["symbols"]]
    assert readded["ok"] and readded["version"] == 2
    assert [c["command"] for c in inbox(control, "GGGUSDT")] == ["init", "remove", "init"]
    assert [a for a, _ in audit(control.pg_url, "GGGUSDT")] == [
        "add_symbol",
        "remove_symbol",
        "add_symbol",
    ]


def test_halt_and_resume_set_the_fleet_state_wake_every_symbol_and_audit(
    control: Fleet,
) -> None:
    assert control.admin.call("add_symbol", symbol="HHHUSDT", strategy=GRID)["ok"]
    depth_before = control.redis.llen("hhhusdt")

    halted = control.admin.call("halt", cli=True, reason="exchange maintenance")
    state_while_halted = control.redis.hget(FLEET, "state")
    resumed = control.admin.call("resume")

    assert (halted["ok"], halted["fleet"], halted["audit"]) == (True, "HALTED", "written")
    assert "HHHUSDT" in halted["woken"]
    assert state_while_halted == "HALTED"
    assert (resumed["ok"], resumed["fleet"], resumed["previous"]) == (True, "ACTIVE", "HALTED")
    assert control.redis.hget(FLEET, "state") == "ACTIVE"
    assert control.redis.llen("hhhusdt") == depth_before + 2  # one wake each, nobody consumes
    changes = [json.loads(e["data"]) for e in events(control, "FLEET_STATE_CHANGED")]
    assert [(c["from"], c["to"]) for c in changes][-2:] == [
        ("ACTIVE", "HALTED"),
        ("HALTED", "ACTIVE"),
    ]
    assert [a for a, _ in audit(control.pg_url, "*")][-2:] == ["halt", "resume"]


def test_status_reports_each_symbol_and_flags_a_queue_nobody_consumes(control: Fleet) -> None:
    assert control.admin.call("add_symbol", symbol="IIIUSDT", strategy=GRID)["ok"]

    everything = control.admin.call("status")
    one = control.admin.call("status", symbol="IIIUSDT")

    assert everything["ok"] and everything["fleet"]["state"] in ("ACTIVE", "HALTED")
    assert control.workers[0].name in everything["fleet"]["workers"]
    [entry] = one["symbols"]
    assert entry["symbol"] == "IIIUSDT" and entry["registry_status"] == "ACTIVE"
    assert entry["consumer_count"] == 0 and entry["healthy"] is False
    assert (
        "nobody consumes its queue: start a worker for it (`mmtasks queues`)" in entry["problems"]
    )
    assert entry["queue_depth"] >= 1  # the init wake waits for a worker
    assert entry["position"]["qty"] == "0" and entry["open_orders"]["open"] == 0
    assert one["fleet"]["healthy"] is False and "IIIUSDT" in one["fleet"]["unhealthy"]


def test_list_symbols_and_rehydrate_answer(control: Fleet) -> None:
    assert control.admin.call("add_symbol", symbol="JJJUSDT", strategy=GRID)["ok"]

    listed, rehydrated = control.admin.call_all(
        [("list_symbols", {"include_removed": True}), ("rehydrate", {"reason": "test"})], cli=True
    )

    row = next(s for s in listed["symbols"] if s["symbol"] == "JJJUSDT")
    assert (row["status"], row["exchange"], row["version"]) == ("ACTIVE", "sim", 1)
    assert row["strategy"]["interval"] == "10"
    assert rehydrated["ok"] and rehydrated["failed"] == {}
    # No worker applied JJJUSDT's init yet, so Redis still lacks its config: init again.
    assert rehydrated["sent"].get("JJJUSDT") == ["init"]
