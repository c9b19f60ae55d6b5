"""Alerts and Sentry on real Celery workers, delivered to local HTTP receivers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import redis as redis_lib

from mmtasks.celery import app
from mmtasks.observability import REDACTED, scrub
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import AlertKeys, keys_for
from mmtasks.tasks.alerts import message
from tests.helpers import eventually
from tests.integration.conftest import GRID, resting
from tests.kit.poll import until_equal
from tests.risk.conftest import Procs, Receiver
from tests.risk.test_fleet_risk import RISK_TIMEOUT_S, admin, fleet_state, set_price

D = Decimal
# apprise's generic JSON target, its fields renamed to the shape of a Slack incoming webhook
# ({"text": ...}) and of Telegram's sendMessage ({"chat_id": ..., "text": ...}).
JSON_AS = ":message=text&:title=&:version=&:attachments=&:type="


def alert_urls(port: int) -> str:
    slack = f"json://127.0.0.1:{port}/slack/hook?{JSON_AS}"
    telegram = f"json://127.0.0.1:{port}/bot123/sendMessage?{JSON_AS}&:chat_id=42"
    return f"{slack} {telegram}"


def test_a_burst_of_50_alerts_from_two_workers_is_one_message_with_its_count(
    procs: Procs, receiver: Receiver, redis_client: redis_lib.Redis
) -> None:
    # Arrange: two control workers; a burst is gathered for 5 s, then rate limited for 10 min.
    env = {"ALERT_URLS": alert_urls(receiver.port), "ALERT_GATHER_S": "5"}
    procs.worker(["control"], name="control-a", env=env)
    procs.worker(["control"], name="control-b", env=env)

    # Act: 50 identical alerts, from whichever worker takes each call.
    results = [
        app.send_task("mmtasks.admin.test_alert", kwargs={"message": "disk almost full"})
        for _ in range(50)
    ]
    answers = [r.get(timeout=60) for r in results]

    # Assert: one Slack-shaped and one Telegram-shaped message, each with the count 50.
    slack = eventually(lambda: receiver.bodies("/slack/hook"), timeout_s=60)
    telegram = eventually(lambda: receiver.bodies("/bot123/sendMessage"), timeout_s=60)
    assert sum(a["scheduled"] for a in answers) == 1
    k = AlertKeys("test")
    eventually(lambda: not redis_client.exists(k.count, k.scheduled))  # nothing left to send
    assert len(slack) == len(telegram) == 1
    assert json.loads(slack[0]) == {"text": "disk almost full" + _count_note(50)}
    assert json.loads(telegram[0]) == {
        "text": "disk almost full" + _count_note(50),
        "chat_id": "42",
    }


def _count_note(n: int) -> str:
    return f"\n(x{n}: {n} alerts of this kind, gathered into one message; at most one per 300s)"


def test_a_failing_receiver_gets_retries_while_the_symbol_keeps_trading(
    procs: Procs,
    receiver: Receiver,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: the receiver answers 500 to the first 3 posts; a symbol worker trades.
    receiver.status_for = lambda path, n: 500 if n <= 3 else 200
    env = {"ALERT_URLS": f"json://127.0.0.1:{receiver.port}/hook?{JSON_AS}", "ALERT_GATHER_S": "0"}
    procs.worker(["control"], name="control", env=env)
    procs.worker(["gridusdt"], name="grid", env=env)
    init_symbol(redis_client, app, exchange, "GRIDUSDT", GRID)

    # Act: an alert goes out while the symbol trades 100 -> 89 (BUY 90 fills).
    app.send_task("mmtasks.admin.test_alert", kwargs={"message": "webhook check"}).get(timeout=60)
    set_price(sim, redis_client, "GRIDUSDT", "100")
    eventually(lambda: resting(exchange, "GRIDUSDT") == [("BUY", D(80)), ("BUY", D(90))])
    set_price(sim, redis_client, "GRIDUSDT", "89")
    traded = [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    eventually(lambda: resting(exchange, "GRIDUSDT") == traded, timeout_s=30)

    # Assert: the message was posted again after failures (a flush sends it once per target,
    # so a second copy is a retry). The worker without beat also alerted "beat is not running".
    def checks() -> list[str]:
        return [b for b in receiver.bodies("/hook") if json.loads(b) == {"text": "webhook check"}]

    assert len(eventually(lambda: len(checks()) >= 2 and checks(), timeout_s=60)) >= 2


def test_a_failing_step_reaches_sentry_tagged_with_its_symbol_and_without_secrets(
    procs: Procs, receiver: Receiver, exchange: Any, redis_client: redis_lib.Redis
) -> None:
    # Arrange: a worker reporting to a local stand-in for Sentry, with a secret token set.
    env = {
        "SENTRY_DSN": f"http://publickey123@127.0.0.1:{receiver.port}/1",
        "CONNECTOR_TOKEN": "s3cr3t-token-value",
    }
    procs.worker(["gridusdt"], name="grid", env=env)
    init_symbol(redis_client, app, exchange, "GRIDUSDT", GRID)
    eventually(lambda: redis_client.hget(keys_for("GRIDUSDT").state, "status") == "ACTIVE")

    # Act: the stored config is corrupt: the step fails with an operational error.
    redis_client.hset(keys_for("GRIDUSDT").config, "strategy", '{"interval": "s3cr3t-token-value"')
    app.send_task("mmtasks.symbol.drain", args=["GRIDUSDT"], queue="gridusdt")

    # Assert: an envelope tagged symbol=GRIDUSDT arrives, and the token is not in it.
    def tagged() -> list[str]:
        return [b for b in receiver.bodies("/api/1/envelope/") if '"symbol":"GRIDUSDT"' in b]

    envelopes = eventually(tagged, timeout_s=60)
    assert all("s3cr3t-token-value" not in e for e in envelopes)
    assert any(REDACTED in e for e in envelopes)


def test_scrub_replaces_secrets_at_any_depth_and_message_counts_a_burst() -> None:
    event = {"a": ["x tok3n-1 y", {"b": "tok3n-1"}], "n": 3}

    assert scrub(event, ["tok3n-1"]) == {"a": [f"x {REDACTED} y", {"b": REDACTED}], "n": 3}
    one = {"title": "t", "body": "b", "severity": "info", "n": 1}
    assert message([one], 1, 60) == ("[mmtasks] t", "b", "info")
    assert message([{**one, "n": 2}], 2, 60)[1].startswith("b\n(x2: 2 alerts")


def test_reducing_then_active_then_halted_in_one_window_are_three_messages_the_halt_at_once(
    procs: Procs,
    receiver: Receiver,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: the fleet with risk every second and alerts to a local receiver (apprise's plain
    # JSON: title and message); the window is 300 s, so nothing gated waits less than that.
    env = {"ALERT_URLS": f"json://127.0.0.1:{receiver.port}/hook", "ALERT_GATHER_S": "1"}
    procs.worker(["control"], name="control", env=env)
    procs.worker(["gridusdt"], name="grid", env=env)
    procs.beat(env=env)
    assert admin("set_fleet_risk", max_exposure_quote="50")["ok"]
    init_symbol(redis_client, app, exchange, "GRIDUSDT", GRID)
    set_price(sim, redis_client, "GRIDUSDT", "100")
    eventually(lambda: resting(exchange, "GRIDUSDT") == [("BUY", D(80)), ("BUY", D(90))])

    def titles() -> list[str]:
        return [json.loads(b)["title"] for b in receiver.bodies("/hook")]

    # Act 1: 89 fills BUY 90: exposure 89 > 50: REDUCING. Then 100 fills the closing SELL 100:
    # flat, exposure 0 under the clear level: ACTIVE (equity 10 - fees 0.038 = 9.962, the peak).
    set_price(sim, redis_client, "GRIDUSDT", "89")
    eventually(lambda: fleet_state(redis_client) == "REDUCING", timeout_s=RISK_TIMEOUT_S)
    eventually(lambda: resting(exchange, "GRIDUSDT") == [("SELL", D(100))], timeout_s=30)
    set_price(sim, redis_client, "GRIDUSDT", "100")
    eventually(lambda: fleet_state(redis_client) == "ACTIVE", timeout_s=RISK_TIMEOUT_S)
    eventually(lambda: len(titles()) >= 2, timeout_s=60)

    # Act 2: exposure may now be 1000, drawdown at most 5: 89 then 79 fill BUY 90 and BUY 80,
    # long 2 at 85 marked 79: equity 9.962 - 12 - 0.034, a drawdown of 12.034: HALTED.
    assert admin("set_fleet_risk", max_exposure_quote="1000", max_drawdown_quote="5")["ok"]
    eventually(lambda: resting(exchange, "GRIDUSDT") == [("BUY", D(80)), ("BUY", D(90))])
    set_price(sim, redis_client, "GRIDUSDT", "89")
    until_equal(
        lambda: resting(exchange, "GRIDUSDT"),
        [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))],
        timeout_s=30,
    )
    set_price(sim, redis_client, "GRIDUSDT", "79")
    eventually(lambda: fleet_state(redis_client) == "HALTED", timeout_s=RISK_TIMEOUT_S)

    # Assert: three messages in order, the halt's well inside the first one's 300 s window
    # (a gated send would wait for its end); each carries its own transition.
    until_equal(
        titles,
        [
            "[mmtasks] fleet ACTIVE -> REDUCING",
            "[mmtasks] fleet REDUCING -> ACTIVE",
            "[mmtasks] fleet ACTIVE -> HALTED",
        ],
        timeout_s=60,
    )
    halted = json.loads(receiver.bodies("/hook")[2])
    assert halted["type"] == "failure"
    assert "drawdown" in halted["message"]


def test_a_symbol_consumed_on_one_host_when_two_are_wanted_is_alerted(
    procs: Procs, receiver: Receiver, exchange: Any, redis_client: redis_lib.Redis
) -> None:
    # Arrange: GRIDUSDT is consumed by one worker, on host `test` (its node name ends in
    # @test); the fleet wants two hosts.
    env = {
        "ALERT_URLS": f"json://127.0.0.1:{receiver.port}/hook?{JSON_AS}",
        "ALERT_GATHER_S": "0",
        "MMTASKS_MIN_HOSTS": "2",
    }
    procs.worker(["control"], name="control", env=env).wait_ready()
    procs.worker(["gridusdt"], name="grid", env=env).wait_ready()
    init_symbol(redis_client, app, exchange, "GRIDUSDT", GRID)

    # Act: beat's consumer watch runs (both workers answer its inspect).
    app.send_task("mmtasks.beat.watch_consumers", queue="control")

    # Assert: one alert names the symbol, its one host and what to do (beside the alert of a
    # fleet without beat, which this one is).
    expected = {
        "text": "GRIDUSDT: consumed on 1 host (test) but MMTASKS_MIN_HOSTS is 2: start a "
        "standby worker for its queue on another host (docs/deploy.md)"
    }

    def about_consumers() -> list[Any]:
        return [b for b in map(json.loads, receiver.bodies("/hook")) if "GRIDUSDT" in b["text"]]

    assert eventually(about_consumers, timeout_s=60) == [expected]
