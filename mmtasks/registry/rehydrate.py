"""Bring Redis back in line with the registry (after Redis lost data, or a half-done admin call).

The registry says what each symbol should be; Redis says what its worker was told. For every
row, `plan` returns the commands that close the gap (pure, so its table is tested with ==),
and `rehydrate` sends them through the symbol's inbox. `init` makes the worker reconcile, and
reconcile rebuilds orders and position from the exchange, which is the truth. Every command is
idempotent, so running this twice, or while an admin call is in flight, is harmless.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from celery import Celery

from mmtasks.domain import FleetState
from mmtasks.errors import ValidationError
from mmtasks.registry import store
from mmtasks.registry.configs import parse_risk, parse_strategy_config
from mmtasks.registry.store import RegistryStatus, SymbolRecord
from mmtasks.registry.symbol_commands import Command, init_command, send_commands
from mmtasks.risk import store as risk_store
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import FLEET, SYMBOLS, keys_for
from mmtasks.state.record import SymbolState
from mmtasks.venue import Venue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedisView:
    """What Redis holds about one symbol: its status and stored configs (None when absent)."""

    status: SymbolStatus | None
    strategy: dict[str, Any] | None
    risk: dict[str, Any] | None


def read_view(client: redis.Redis, symbol: str) -> RedisView:
    """Return the Redis view of symbol."""
    keys = keys_for(symbol)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.state)
    pipe.hmget(keys.config, ["strategy", "risk"])
    state, (strategy, risk) = pipe.execute()
    status = SymbolState.parse(symbol, state).status
    try:
        return RedisView(
            status=status,
            strategy=json.loads(strategy) if strategy else None,
            risk=json.loads(risk) if risk else None,
        )
    except ValueError:  # unreadable config: treat as lost, init rewrites it
        return RedisView(status=status, strategy=None, risk=None)


def _same_configs(record: SymbolRecord, view: RedisView) -> bool:
    try:
        return (
            view.strategy is not None
            and parse_strategy_config(view.strategy) == parse_strategy_config(record.strategy)
            and parse_risk(view.risk or {}) == parse_risk(record.risk)
        )
    except ValidationError:
        return False


def plan(record: SymbolRecord, view: RedisView) -> list[str]:
    """Return the commands that make the symbol's Redis state match its registry row."""
    if record.status == RegistryStatus.REMOVED:
        lingering = view.status not in (None, SymbolStatus.REMOVED)
        return ["remove"] if lingering else []
    if record.status not in (RegistryStatus.ACTIVE, RegistryStatus.PAUSED):
        return []
    paused = record.status == RegistryStatus.PAUSED
    lost = view.strategy is None or view.status in (
        None,
        SymbolStatus.REMOVED,
        SymbolStatus.UNCONFIGURED,
    )
    if lost:
        return ["init", "pause"] if paused else ["init"]
    commands = [] if _same_configs(record, view) else ["update_config"]
    if paused and view.status == SymbolStatus.ACTIVE:
        commands.append("pause")
    elif not paused and view.status == SymbolStatus.PAUSED:
        commands.append("resume")
    return commands  # a symbol in ERROR stays there until an operator resumes it


Venues = Venue | Callable[[str], Venue]


def _command(exchange: Venues, record: SymbolRecord, name: str) -> Command:
    if name == "init":
        venue = exchange(record.exchange) if callable(exchange) else exchange
        return init_command(venue, record.symbol, record.strategy, record.risk, record.exchange)
    if name == "update_config":
        return name, {
            "strategy": parse_strategy_config(record.strategy).model_dump(mode="json"),
            "risk": parse_risk(record.risk).model_dump(mode="json"),
        }
    return name, {}


def restore_fleet(conn: psycopg.Connection[Any], client: redis.Redis) -> str:
    """Put back a fleet state Redis forgot (a halt, or REDUCING); return what was done.

    The `fleet_risk` row holds the state the operator or the risk engine last set, so a Redis
    that restarted empty does not read ACTIVE until the next risk run halts it again.
    """
    if client.hexists(FLEET, "state"):
        return "kept"
    row = risk_store.load(conn)
    if row.state is FleetState.ACTIVE:
        return "kept"
    client.hset(
        FLEET,
        mapping={
            "state": row.state.value,
            "reason": f"restored from the registry: {row.reason}",
            "changed_ms": str(int(time.time() * 1000)),
            "changed_by": "rehydrate",
            "source": "operator" if row.set_by_operator else "risk",
        },
    )
    log.warning("rehydrate: fleet state %s restored (%s)", row.state.value, row.reason)
    return f"restored {row.state.value}"


def rehydrate(
    conn: psycopg.Connection[Any],
    client: redis.Redis,
    app: Celery,
    exchange: Venues,
    issued_by: str,
) -> dict[str, Any]:
    """Send every registered symbol the commands its Redis state is missing; report them.

    exchange: the venue, or (several venues in one fleet) venue name -> its connector.
    """
    sent: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    fleet = restore_fleet(conn, client)
    for record in store.list_symbols(conn):
        view = read_view(client, record.symbol)
        names = plan(record, view)
        try:
            commands = [_command(exchange, record, name) for name in names]
        except ValidationError as exc:  # this symbol cannot start; the others still do
            failed[record.symbol] = str(exc)
            log.error("rehydrate: %s not restored: %s", record.symbol, exc)
            continue
        # A removed symbol with a state in Redis leaves the fleet set when its worker has
        # cancelled its orders (trading/step.py); one that still trades is sent its remove.
        if record.status in (RegistryStatus.ACTIVE, RegistryStatus.PAUSED) or names == ["remove"]:
            client.sadd(SYMBOLS, record.symbol)
        elif record.status == RegistryStatus.REMOVED and view.status is None:
            client.srem(SYMBOLS, record.symbol)
        if not commands:
            continue
        send_commands(client, app, record.symbol, commands, issued_by)
        sent[record.symbol] = names
        log.warning(
            "rehydrate: %s was out of line with the registry; sent %s", record.symbol, names
        )
    return {"sent": sent, "failed": failed, "fleet": fleet}
