"""Halt and resume the whole fleet, and set its risk limits: Redis, Postgres, an event, an audit.

A halt writes `mm:fleet` first and Postgres after, best effort: a halt must work while Postgres
is down. A resume is the reverse: it must be recorded (who, why) before anyone trades again, so
it changes the `fleet_risk` row and `mm:fleet` inside one Postgres transaction that holds the
row lock the risk task also takes; if Postgres is down, the resume is refused and nothing
changes. A resume also acknowledges the losses so far: the drawdown is measured again from the
equity at resume, and the day's loss from there, or the risk task would halt again at once.
Every worker reads `mm:fleet` on each step (HALTED: cancel everything, place nothing), so each
symbol is woken through its own queue to act now rather than on its next market event.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from mmtasks.alerts import alert, fleet_state_key, more_severe
from mmtasks.domain import FleetState
from mmtasks.enqueue import wake
from mmtasks.events import EventType, emit, event_fields
from mmtasks.registry import store
from mmtasks.registry.context import AdminContext
from mmtasks.risk import store as risk_store
from mmtasks.risk.config import merged
from mmtasks.risk.figures import Peaks
from mmtasks.state.keys import FLEET, RISK, SYMBOLS

log = logging.getLogger(__name__)

ACTIVE, REDUCING, HALTED = FleetState.ACTIVE, FleetState.REDUCING, FleetState.HALTED


def _text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else value


def _write_redis(ctx: AdminContext, state: str, reason: str) -> str:
    """Set mm:fleet as the operator's; return the state it had."""
    r = ctx.redis
    before = _text(r.hget(FLEET, "state"), ACTIVE)
    r.hset(
        FLEET,
        mapping={
            "state": state,
            "reason": reason,
            "changed_ms": str(int(time.time() * 1000)),
            "changed_by": ctx.issued_by,
            "source": "operator",
        },
    )
    return before


def _announce(ctx: AdminContext, before: str, state: str, reason: str) -> list[str]:
    r = ctx.redis
    emit(
        r,
        store.FLEET_SUBJECT,
        [
            event_fields(
                EventType.FLEET_STATE_CHANGED,
                store.FLEET_SUBJECT,
                {"from": before, "to": state, "reason": reason, "issued_by": ctx.issued_by},
            )
        ],
    )
    symbols = sorted(_text(s) for s in r.smembers(SYMBOLS))
    for symbol in symbols:
        wake(ctx.app, symbol)
    log.warning("fleet %s -> %s (%s) by %s", before, state, reason, ctx.issued_by)
    alert(
        r,
        fleet_state_key(before, state),
        f"fleet {before} -> {state} by an operator",
        f"{reason} ({ctx.issued_by})",
        severity="failure" if state == HALTED else "info",
        urgent=more_severe(before, state),
        settings=ctx.rt.settings,
    )
    return symbols


def halt(ctx: AdminContext, reason: str) -> dict[str, Any]:
    """Halt the fleet: every worker cancels its orders and places nothing."""
    before = _write_redis(ctx, HALTED, reason)
    symbols = _announce(ctx, before, HALTED, reason)
    try:
        with ctx.transaction() as conn:
            risk_store.load(conn, for_update=True)
            risk_store.save_state(conn, FleetState.HALTED, True, reason)
            store.append_audit(
                conn,
                store.FLEET_SUBJECT,
                "halt",
                {"state": before},
                {"state": HALTED, "reason": reason},
                ctx.task_id,
            )
        audit = "written"
    except psycopg.Error as exc:
        log.error("fleet HALTED applied but not recorded in Postgres: %s", exc)
        audit = f"not written: {exc}"
    return {"fleet": HALTED, "previous": before, "reason": reason, "woken": symbols, "audit": audit}


def resume(ctx: AdminContext, reason: str) -> dict[str, Any]:
    """Let the fleet trade again; drawdown and the day's loss are measured from now on."""
    with ctx.transaction() as conn:
        row = risk_store.load(conn, for_update=True)
        risk_store.save_state(conn, FleetState.ACTIVE, False, reason)
        risk_store.save_peaks(conn, Peaks())  # the next risk run starts them at equity
        store.append_audit(
            conn,
            store.FLEET_SUBJECT,
            "resume",
            {"state": row.state.value, "reason": row.reason},
            {"state": ACTIVE, "reason": reason},
            ctx.task_id,
        )
        # Inside the transaction: the risk task reads mm:fleet under the same row lock.
        ctx.redis.hset(RISK, mapping={"high_water": "", "day": "", "day_start_equity": ""})
        before = _write_redis(ctx, ACTIVE, reason)
    symbols = _announce(ctx, before, ACTIVE, reason)
    return {"fleet": ACTIVE, "previous": before, "reason": reason, "woken": symbols}


def set_fleet_risk(ctx: AdminContext, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge changes into the fleet's risk limits (None removes one), validated and audited."""
    with ctx.transaction() as conn:
        row = risk_store.load(conn, for_update=True)
        config = merged(row.config, changes)  # ValidationError: nothing written
        risk_store.save_config(conn, config)
        store.append_audit(
            conn,
            store.FLEET_SUBJECT,
            "set_fleet_risk",
            row.config.model_dump(mode="json", exclude_none=True),
            config.model_dump(mode="json", exclude_none=True),
            ctx.task_id,
        )
    ctx.redis.hset(RISK, "config", config.model_dump_json(exclude_none=True))
    log.warning("fleet risk limits set by %s: %s", ctx.issued_by, changes)
    return {"limits": config.limits()}


def fleet_risk(ctx: AdminContext) -> dict[str, Any]:
    """Return the fleet state, its limits and the figures of the risk task's last run."""
    import json

    with ctx.transaction() as conn:
        row = risk_store.load(conn)
    fleet = {_text(k): _text(v) for k, v in ctx.redis.hgetall(FLEET).items()}
    cache = {_text(k): _text(v) for k, v in ctx.redis.hgetall(RISK).items()}
    return {
        "fleet": fleet.get("state", ACTIVE),
        "reason": fleet.get("reason", ""),
        "source": fleet.get("source", ""),
        "limits": row.config.limits(),
        "figures": json.loads(cache["figures"]) if cache.get("figures") else None,
        "breaches": json.loads(cache["breaches"]) if cache.get("breaches") else [],
        "updated_ms": int(cache["updated_ms"]) if cache.get("updated_ms") else None,
        "high_water_persisted": str(row.peaks.high_water)
        if row.peaks.high_water is not None
        else None,
    }
