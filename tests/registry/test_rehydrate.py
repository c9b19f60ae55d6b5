"""Rehydration: the commands that bring Redis in line with the registry, sent through inboxes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.domain import FleetState
from mmtasks.errors import ValidationError
from mmtasks.registry import store
from mmtasks.registry.migrate import migrate
from mmtasks.registry.rehydrate import RedisView, plan, rehydrate
from mmtasks.registry.store import SymbolRecord
from mmtasks.risk import store as risk_store
from mmtasks.state.keys import FLEET, SYMBOLS, keys_for

GRID = {"interval": "10", "order_qty": "1"}
FULL_GRID = {
    "mode": "long",
    "interval": "10",
    "buy_levels": 10,
    "sell_levels": 10,
    "order_qty": "1",
    "post_only": True,
    "atr_scale": "0",
    "inventory_skew": "0",
}


def record(status: str, strategy: dict[str, Any] | None = None) -> SymbolRecord:
    now = datetime.now(UTC)
    return SymbolRecord(
        "BTCUSDT", "sim", strategy or GRID, {}, status, version=1, created_at=now, updated_at=now
    )


def view(status: str | None, strategy: dict[str, Any] | None = FULL_GRID) -> RedisView:
    return RedisView(status=status, strategy=strategy, risk={} if strategy else None)


@pytest.mark.parametrize(
    ("registry", "redis_view", "commands"),
    [
        (record("ACTIVE"), view(None, None), ["init"]),
        (record("PAUSED"), view(None, None), ["init", "pause"]),
        (record("ACTIVE"), view("REMOVED"), ["init"]),
        (record("ACTIVE"), view("ACTIVE"), []),
        (record("PAUSED"), view("PAUSED"), []),
        (record("PAUSED"), view("ACTIVE"), ["pause"]),
        (record("ACTIVE"), view("PAUSED"), ["resume"]),
        (record("ACTIVE"), view("ERROR"), []),
        (record("ACTIVE", {**GRID, "interval": "20"}), view("ACTIVE"), ["update_config"]),
        (record("PAUSED", {**GRID, "interval": "20"}), view("ACTIVE"), ["update_config", "pause"]),
        (record("REMOVED"), view("ACTIVE"), ["remove"]),
        (record("REMOVED"), view("REMOVED"), []),
        (record("REMOVED"), view(None, None), []),
    ],
)
def test_plan_closes_the_gap_between_registry_and_redis(
    registry: SymbolRecord,
    redis_view: RedisView,
    commands: list[str],
) -> None:
    assert plan(registry, redis_view) == commands


@dataclass(frozen=True)
class Info:
    tick_size: Decimal = Decimal("0.1")
    step_size: Decimal = Decimal("0.001")
    min_qty: Decimal = Decimal("0.001")
    min_notional: Decimal = Decimal("5")
    venue: str = "sim"  # the connector's venue and capabilities (a derivative market)
    spot: bool = False


class FakeExchange:
    """Knows two symbols' rules, like the simulated connector."""

    listed = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

    def symbol_info(self, symbol: str) -> Info:
        if symbol not in self.listed:
            raise ValidationError(f"unknown symbol {symbol!r}")
        return Info()

    def latest_price(self, symbol: str) -> Info:
        raise ValidationError(f"no price for {symbol} yet")  # as a venue before its first tick


@dataclass
class FakeApp:
    """Records the tasks sent (the wake-ups) instead of using a broker."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send_task(self, name: str, args: list[Any], queue: str, **_: Any) -> None:
        self.sent.append((name, queue))


def inbox_commands(client: redis_lib.Redis, symbol: str) -> list[str]:
    return [
        json.loads(fields["e"])["command"] for _, fields in client.xrange(keys_for(symbol).inbox)
    ]


def test_rehydrate_sends_each_symbol_what_redis_lost_and_restores_a_halt(
    pg_url: str,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: a registry of five symbols and a Redis that only remembers the removed ones:
    # SOLUSDT still trades in Redis, DOGEUSDT is only a name left in the fleet set.
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        for symbol, status in [
            ("BTCUSDT", "ACTIVE"),
            ("ETHUSDT", "PAUSED"),
            ("SOLUSDT", "REMOVED"),
            ("XRPUSDT", "ACTIVE"),
            ("DOGEUSDT", "REMOVED"),
        ]:
            store.insert_symbol(conn, store.SymbolRow(symbol, "sim", GRID, {}, status))
        risk_store.save_state(conn, FleetState.HALTED, True, "drill")  # as fleet_ops.halt does
    redis_client.hset(keys_for("SOLUSDT").state, "status", "ACTIVE")
    redis_client.sadd(SYMBOLS, "SOLUSDT", "DOGEUSDT")
    app = FakeApp()

    # Act
    with psycopg.connect(pg_url) as conn:
        report = rehydrate(conn, redis_client, app, FakeExchange(), "test")  # type: ignore[arg-type]

    # Assert: commands in each inbox, one wake per symbol, the halt back, XRPUSDT reported.
    assert report["sent"] == {
        "BTCUSDT": ["init"],
        "ETHUSDT": ["init", "pause"],
        "SOLUSDT": ["remove"],
    }
    assert "XRPUSDT" in report["failed"] and "unknown symbol" in report["failed"]["XRPUSDT"]
    assert inbox_commands(redis_client, "ETHUSDT") == ["init", "pause"]
    assert inbox_commands(redis_client, "SOLUSDT") == ["remove"]
    assert sorted(q for _, q in app.sent) == ["btcusdt", "ethusdt", "solusdt"]
    # SOLUSDT stays in the fleet until its worker has cancelled its orders; DOGEUSDT, with no
    # state to drain, leaves it now.
    assert redis_client.smembers(SYMBOLS) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    fleet = redis_client.hgetall(FLEET)
    assert (fleet["state"], fleet["source"]) == ("HALTED", "operator")
    assert fleet["reason"] == "restored from the registry: drill"
    assert report["fleet"] == "restored HALTED"
    init = json.loads(redis_client.xrange(keys_for("BTCUSDT").inbox)[0][1]["e"])
    assert init["args"]["rules"]["tick_size"] == "0.1"
    assert init["args"]["strategy"]["interval"] == "10"


@pytest.mark.parametrize(
    ("stored", "in_redis", "expected"),
    [
        # The risk engine's REDUCING comes back as the engine's (it may lift it itself).
        ((FleetState.REDUCING, False, "exposure 51000 > 50000"), None, ("REDUCING", "risk")),
        # ACTIVE in the row: nothing to put back, Redis reads ACTIVE by default.
        ((FleetState.ACTIVE, False, "resumed"), None, (None, None)),
        # Redis still knows a state: it is newer than any row, and kept.
        ((FleetState.HALTED, True, "drill"), "ACTIVE", ("ACTIVE", None)),
    ],
)
def test_a_fleet_state_redis_forgot_comes_back_from_the_fleet_risk_row(
    pg_url: str,
    redis_client: redis_lib.Redis,
    stored: tuple[FleetState, bool, str],
    in_redis: str | None,
    expected: tuple[str | None, str | None],
) -> None:
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        risk_store.save_state(conn, *stored)
    if in_redis:
        redis_client.hset(FLEET, "state", in_redis)

    with psycopg.connect(pg_url) as conn:
        rehydrate(conn, redis_client, FakeApp(), FakeExchange(), "test")  # type: ignore[arg-type]

    fleet = redis_client.hgetall(FLEET)
    assert (fleet.get("state"), fleet.get("source")) == expected
