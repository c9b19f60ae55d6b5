"""Commands in a symbol's inbox (pause, resume, config change...), applied in order with trades."""

from __future__ import annotations

import logging

from mmtasks.errors import ValidationError
from mmtasks.events import EventType
from mmtasks.grid import models as core
from mmtasks.kinds import kind_of, kind_of_raw
from mmtasks.messages import CommandEvent
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import StateFields
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import Snapshot

log = logging.getLogger(__name__)

# Fields a return to ACTIVE clears: the error, the DEGRADED condition, the recovery budget.
CLEARED_ON_RESUME: StateFields = {
    "last_error": "",
    "error_since_ms": "",
    "degraded_since_ms": "",
    "retry_count": "0",
    "retry_at_ms": "",
    "give_up": "0",
    # the circuit breaker: its trip, the streak, and the peak (measured again from now on)
    "breaker": "",
    "breaker_reason": "",
    "losing_streak": "0",
    "equity_hwm": "",
}


def cancel_everything(
    grid: core.GridState, reason: str = "symbol not trading"
) -> list[core.Action]:
    """Return a cancel for every resting order of grid (entries and closing orders)."""
    return [
        core.CancelOrder(grid.symbol, slot.level, slot.client_order_id, slot.venue_order_id, reason)
        for slot in grid.slots.values()
        if slot.status == core.SlotStatus.LOCKED and slot.client_order_id
    ]


def apply_command(snap: Snapshot, fx: Effects, cmd: CommandEvent) -> None:
    """Apply one command to fx; a bad command is logged and changes nothing."""
    try:
        _apply(snap, fx, cmd)
    except ValidationError as exc:
        log.error("%s: command %s rejected: %s", snap.symbol, cmd.command, exc)
        fx.event(
            EventType.SYMBOL_STATE_CHANGED,
            {"command": cmd.command, "rejected": str(exc), "issued_by": cmd.issued_by},
        )


def _config(snap: Snapshot, fx: Effects, cmd: CommandEvent) -> None:
    rules = fx.rules or snap.rules
    if "rules" in cmd.args:
        rules = core.SymbolRules.from_dict(cmd.args["rules"])
    strategy = fx.strategy or snap.strategy
    risk = fx.risk or snap.risk
    if "strategy" in cmd.args:
        raw = cmd.args["strategy"]
        if not isinstance(raw, dict):
            raise ValidationError(f"strategy must be an object, received {raw!r}")
        strategy = kind_of_raw(raw).parse(raw)
    if "risk" in cmd.args:
        risk = core.parse_risk_config(cmd.args["risk"])
    if strategy is None or rules is None:
        raise ValidationError(
            f"{cmd.command} needs a strategy and symbol rules, received {sorted(cmd.args)}"
        )
    kind = kind_of(strategy)
    kind.validate(strategy, rules)
    new_kind = snap.strategy is None or kind_of(snap.strategy) is not kind
    if kind.starts_from_history and (cmd.command == "init" or new_kind):
        fx.meta["signal_history"] = "1"  # a new symbol of this kind starts from the history
    fx.strategy, fx.risk, fx.rules = strategy, risk, rules
    if "exchange" in cmd.args:
        fx.exchange = str(cmd.args["exchange"])


# What a removed symbol still takes from its inbox: only an `init` (added again) makes it trade;
# a status command queued before the removal (beat's `recover`, an operator's `resume`...) would.
AFTER_REMOVAL = frozenset({"init", "update_config", "remove", "reconcile"})


def _apply(snap: Snapshot, fx: Effects, cmd: CommandEvent) -> None:
    name = cmd.command
    status = fx.meta.get("status", snap.status)  # as this step has it so far
    if status == SymbolStatus.REMOVED and name not in AFTER_REMOVAL:
        log.warning("%s: command %s ignored: the symbol was removed", snap.symbol, name)
        return
    if name in ("init", "update_config"):
        _config(snap, fx, cmd)
        if name == "init":
            fx.meta.update(CLEARED_ON_RESUME)
            fx.meta.update({"status": SymbolStatus.ACTIVE, "needs_reconcile": "1"})
            _count_resume(snap, fx)
        fx.event(EventType.SYMBOL_STATE_CHANGED, {"command": name, "issued_by": cmd.issued_by})
    elif name == "pause":
        fx.meta["status"] = SymbolStatus.PAUSED
        fx.event(EventType.SYMBOL_PAUSED, {"issued_by": cmd.issued_by})
    elif name in ("resume", "reset_errors"):
        fx.meta.update(CLEARED_ON_RESUME)
        fx.meta.update({"status": SymbolStatus.ACTIVE, "needs_reconcile": "1"})
        _count_resume(snap, fx)
        fx.event(EventType.SYMBOL_RESUMED, {"issued_by": cmd.issued_by})
    elif name == "recover":
        if status != SymbolStatus.ERROR:
            return  # recovered meanwhile (or resumed by hand): nothing to try
        attempt = cmd.args.get("attempt", 0)
        fx.meta.update(CLEARED_ON_RESUME)
        fx.meta.update({"status": SymbolStatus.ACTIVE, "needs_reconcile": "1", "recovering": "1"})
        fx.event(
            EventType.RECOVERY_ATTEMPTED,
            {
                "attempt": attempt,
                "error": snap.record.last_error,
                "issued_by": cmd.issued_by,
            },
        )
        log.warning("recovery attempt symbol=%s attempt=%s", snap.symbol, attempt)
    elif name == "give_up":
        if status != SymbolStatus.ERROR:
            return
        fx.meta["give_up"] = "1"
        fx.event(
            EventType.RECOVERY_EXHAUSTED,
            {
                "attempts": cmd.args.get("attempts", 0),
                "error": snap.record.last_error,
                "action": "entry orders cancelled, closing orders kept; resume_symbol to retry",
            },
        )
        log.error("recovery exhausted symbol=%s: stays in ERROR, entries cancelled", snap.symbol)
    elif name == "safe_mode_on":
        fx.grid = _reduce_only(fx.grid, True)
    elif name == "safe_mode_off":
        fx.grid = _reduce_only(fx.grid, False)
    elif name == "reconcile":
        fx.meta["needs_reconcile"] = "1"
    elif name == "remove":
        fx.meta["status"] = SymbolStatus.REMOVED
        fx.event(EventType.SYMBOL_REMOVED, {"issued_by": cmd.issued_by})


def _count_resume(snap: Snapshot, fx: Effects) -> None:
    """Count an operator's init, resume or reset: beat's recovery budget starts again."""
    fx.meta["resumes"] = str(int((snap.meta | fx.meta).get("resumes") or 0) + 1)


def _reduce_only(grid: core.GridState, on: bool) -> core.GridState:
    import dataclasses

    return dataclasses.replace(grid, reduce_only=on)
