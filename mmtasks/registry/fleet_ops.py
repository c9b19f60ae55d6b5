"""Halt and resume the whole fleet: `mm:fleet` state, an event, an audit row, every symbol woken.

Redis is written first and the audit row after, best effort: a halt must work while Postgres is
down. Every worker reads `mm:fleet` on each step (HALTED: cancel everything, place nothing), so
each symbol is woken to act now rather than on its next market event.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from mmtasks.enqueue import wake
from mmtasks.events import EventType, emit, event_fields
from mmtasks.registry import store
from mmtasks.registry.context import AdminContext
from mmtasks.state.keys import FLEET, SYMBOLS

log = logging.getLogger(__name__)

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"


def _text(value: bytes | str | None, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else value


def set_fleet_state(ctx: AdminContext, state: str, reason: str, action: str) -> dict[str, Any]:
    """Set the fleet state, announce it, wake every symbol, then audit the change."""
    r = ctx.redis
    before = _text(r.hget(FLEET, "state"), ACTIVE)
    r.hset(
        FLEET,
        mapping={
            "state": state,
            "reason": reason,
            "changed_ms": str(int(time.time() * 1000)),
            "changed_by": ctx.issued_by,
        },
    )
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
    try:
        with ctx.transaction() as conn:
            store.append_audit(
                conn,
                store.FLEET_SUBJECT,
                action,
                {"state": before},
                {"state": state, "reason": reason},
                ctx.task_id,
            )
        audit = "written"
    except psycopg.Error as exc:
        log.error("fleet %s applied but its audit row was not written: %s", state, exc)
        audit = f"not written: {exc}"
    log.warning("fleet %s -> %s (%s) by %s", before, state, reason, ctx.issued_by)
    return {"fleet": state, "previous": before, "reason": reason, "woken": symbols, "audit": audit}


def halt(ctx: AdminContext, reason: str) -> dict[str, Any]:
    """Halt the fleet: every worker cancels its orders and places nothing."""
    return set_fleet_state(ctx, HALTED, reason, "halt")


def resume(ctx: AdminContext) -> dict[str, Any]:
    """Let the fleet trade again."""
    return set_fleet_state(ctx, ACTIVE, "resumed by operator", "resume")
