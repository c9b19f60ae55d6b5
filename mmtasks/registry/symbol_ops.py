"""Admin operations on one symbol: add, remove, pause, resume, update.

Each validates everything it can before it writes (so a bad call changes nothing), then
commits the registry row and its audit row in one transaction, then tells the symbol through
its own inbox. The registry is what the operator wants; if a step after the commit fails, the
`rehydrate` task brings Redis back in line with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.decimals import canon
from mmtasks.domain import queue_for
from mmtasks.errors import MMError, ValidationError
from mmtasks.events import EventType, emit, event_fields
from mmtasks.grid.ids import is_ours
from mmtasks.registry import store
from mmtasks.registry.configs import (
    config_json,
    kind_name,
    kind_of,
    merge,
    parse_risk,
    parse_strategy_config,
)
from mmtasks.registry.context import AdminContext
from mmtasks.registry.requests import AddSymbol, RemoveSymbol, SymbolOnly, UpdateSymbol
from mmtasks.registry.store import RegistryStatus, SymbolRecord, SymbolRow
from mmtasks.registry.symbol_commands import checked_rules, init_command, send_commands
from mmtasks.registry.workers import attach, check_consumer
from mmtasks.state.keys import SYMBOLS, keys_for
from mmtasks.state.record import read_record
from mmtasks.venue import Venue


def _require(record: SymbolRecord | None, symbol: str) -> SymbolRecord:
    if record is None or record.status == RegistryStatus.REMOVED:
        state = "was removed" if record else "is not registered"
        raise ValidationError(
            f"symbol {symbol} {state}; expected a registered symbol (see list_symbols)"
        )
    return record


def _registered(ctx: AdminContext, symbol: str) -> SymbolRecord:
    with ctx.transaction() as conn:
        return _require(store.get_symbol(conn, symbol), symbol)


def add_symbol(ctx: AdminContext, req: AddSymbol) -> dict[str, Any]:
    """Register a symbol, initialise its state through its inbox, and announce it."""
    strategy, risk = parse_strategy_config(req.strategy), parse_risk(req.risk)
    strategy_json, risk_json = config_json(strategy), config_json(risk)
    with ctx.transaction() as conn:  # said first: the venue may not even list the name
        _refuse_registered(store.get_symbol(conn, req.symbol), req.symbol)
    # Built (and checked against the venue's rules) before the commit, so that what follows
    # the commit only writes to Redis.
    init = init_command(
        ctx.rt.exchange_for(req.exchange), req.symbol, strategy_json, risk_json, req.exchange
    )
    queue = queue_for(req.symbol)
    if req.consumer:
        check_consumer(ctx.app, queue, req.consumer)
    with ctx.transaction() as conn:
        old = store.get_symbol(conn, req.symbol, lock=True)
        _refuse_registered(old, req.symbol)
        row = SymbolRow(req.symbol, req.exchange, strategy_json, risk_json, consumer=req.consumer)
        record = store.insert_symbol(conn, row, readd=True)
        if record is None:  # a concurrent add won the race between our read and write
            raise ValidationError(f"symbol {req.symbol} is already registered")
        store.append_audit(
            conn,
            req.symbol,
            "add_symbol",
            old.to_json() if old else None,
            record.to_json(),
            ctx.task_id,
        )
    ctx.redis.sadd(SYMBOLS, req.symbol)  # first: a worker drops tasks of unknown symbols
    seq = send_commands(ctx.redis, ctx.app, req.symbol, [init], ctx.issued_by)
    emit(
        ctx.redis,
        req.symbol,
        [
            event_fields(
                EventType.SYMBOL_ADDED,
                req.symbol,
                {"exchange": req.exchange, "version": record.version, "issued_by": ctx.issued_by},
            )
        ],
    )
    if req.consumer:
        attach(ctx.app, queue, req.consumer)
    return {
        "symbol": req.symbol,
        "status": record.status,
        "version": record.version,
        "queue": queue,
        "consumer": req.consumer,
        "rules": init[1]["rules"],
        "seq": seq,
    }


def _refuse_registered(old: SymbolRecord | None, symbol: str) -> None:
    if old is not None and old.status != RegistryStatus.REMOVED:
        raise ValidationError(
            f"symbol {symbol} is already registered on {old.exchange} (status {old.status}, "
            f"version {old.version}); one name trades on one venue: use update_symbol to change "
            "its config, or remove it first"
        )


def _venue(ctx: AdminContext, symbol: str) -> Venue:
    """Return the connector of the venue the symbol is registered on."""
    return ctx.rt.exchange_for(_registered(ctx, symbol).exchange)


def _position_qty(ctx: AdminContext, symbol: str) -> tuple[Decimal, Decimal | None]:
    """Return the open quantity in Redis and at the exchange (None when it cannot be asked)."""
    raw = ctx.redis.hget(keys_for(symbol).position, "qty")
    local = Decimal(raw.decode() if isinstance(raw, bytes) else raw or "0")
    positions = [p for p in _venue(ctx, symbol).positions(symbol) if p.symbol == symbol]
    return local, positions[0].quantity if positions else Decimal(0)


def remove_symbol(ctx: AdminContext, req: RemoveSymbol) -> dict[str, Any]:
    """Stop a symbol for good: cancel its orders through its queue; keep its history.

    Answered at once; the symbol leaves the fleet (`mm:symbols`) when no order of it rests,
    which `status` shows (a removed symbol with open orders is a problem until then)."""
    _registered(ctx, req.symbol)
    try:
        local, venue = _position_qty(ctx, req.symbol)
    except MMError:
        if not req.force:
            raise
        local, venue = Decimal(0), None  # forced: the position check must not block removal
    open_qty = venue or local  # the exchange is the truth; Redis covers "cannot ask"
    if open_qty != 0 and not req.force:
        raise ValidationError(
            f"symbol {req.symbol} has an open position of {canon(open_qty)}; close it first "
            "or pass force=true (its orders are cancelled, the position stays at the exchange)"
        )
    with ctx.transaction() as conn:
        old = _require(store.get_symbol(conn, req.symbol, lock=True), req.symbol)
        record = store.set_status(conn, req.symbol, RegistryStatus.REMOVED)
        store.append_audit(
            conn,
            req.symbol,
            "remove_symbol",
            old.to_json(),
            {**record.to_json(), "forced": req.force},
            ctx.task_id,
        )
    # The symbol stays in the fleet set (streamed, woken, consumed) until its worker has
    # cancelled every order of it; its worker then takes it out (trading/step.py).
    seq = send_commands(ctx.redis, ctx.app, req.symbol, [("remove", {})], ctx.issued_by)
    return {
        "symbol": req.symbol,
        "status": record.status,
        "forced": req.force,
        "position_left": canon(open_qty),
        "next": (
            f"its worker cancels every order of {req.symbol}, retrying while the venue fails; "
            f"`mmtasks status {req.symbol}` lists it until none rests"
        ),
        "seq": seq,
    }


def _set_status(
    ctx: AdminContext, symbol: str, status: RegistryStatus, command: str, action: str
) -> dict[str, Any]:
    live = read_record(ctx.redis, symbol).status
    with ctx.transaction() as conn:
        old = _require(store.get_symbol(conn, symbol, lock=True), symbol)
        if old.status != status:
            record = store.set_status(conn, symbol, status)
            store.append_audit(conn, symbol, action, old.to_json(), record.to_json(), ctx.task_id)
    # Sent even when the registry already agrees: it is idempotent, and it repairs a symbol
    # whose state drifted (a resume also brings a symbol back from ERROR).
    seq = send_commands(ctx.redis, ctx.app, symbol, [(command, {})], ctx.issued_by)
    # What changes is the registry's row and the worker's own state (an ERROR the registry
    # never saw, say): report both, so "changed" is true whenever either moves.
    registry_changed = old.status != status
    worker_changes = live in ("ERROR", "UNCONFIGURED", None) and status == RegistryStatus.ACTIVE
    return {
        "symbol": symbol,
        "status": str(status),
        "changed": registry_changed or worker_changes,
        "registry_before": str(old.status),
        "worker_before": str(live) if live else "unknown",
        "seq": seq,
    }


def pause_symbol(ctx: AdminContext, req: SymbolOnly) -> dict[str, Any]:
    """Pause a symbol: its worker cancels its resting orders and places nothing."""
    return _set_status(ctx, req.symbol, RegistryStatus.PAUSED, "pause", "pause_symbol")


def resume_symbol(ctx: AdminContext, req: SymbolOnly) -> dict[str, Any]:
    """Resume a paused (or ERROR) symbol: its worker reconciles, then trades."""
    return _set_status(ctx, req.symbol, RegistryStatus.ACTIVE, "resume", "resume_symbol")


def update_symbol(ctx: AdminContext, req: UpdateSymbol) -> dict[str, Any]:
    """Change a symbol's strategy and/or risk config (keys merged), applied in order."""
    if req.strategy is None and req.risk is None:
        raise ValidationError("update_symbol needs strategy and/or risk, received neither")
    old = _registered(ctx, req.symbol)
    strategy = parse_strategy_config(merge(old.strategy, req.strategy or {}, "strategy"))
    risk = parse_risk(merge(old.risk, req.risk or {}, "risk"))
    checked_rules(ctx.rt.exchange_for(old.exchange), req.symbol, strategy, risk, old.exchange)
    if kind_name(strategy) != kind_of(old.strategy):
        _check_flat(ctx, req.symbol, kind_of(old.strategy), kind_name(strategy))
    strategy_json, risk_json = config_json(strategy), config_json(risk)
    if (strategy_json, risk_json) == (old.strategy, old.risk):
        return {
            "symbol": req.symbol,
            "version": old.version,
            "changed": False,
            "strategy": strategy_json,
            "risk": risk_json,
        }
    with ctx.transaction() as conn:
        record = store.set_config(conn, req.symbol, strategy_json, risk_json, old.version)
        if record is None:
            raise ValidationError(
                f"symbol {req.symbol} changed while this update ran (version {old.version} "
                "is no longer current); read it again and retry"
            )
        store.append_audit(
            conn, req.symbol, "update_symbol", old.to_json(), record.to_json(), ctx.task_id
        )
    seq = send_commands(
        ctx.redis,
        ctx.app,
        req.symbol,
        [
            (
                "update_config",
                {
                    "strategy": strategy.model_dump(mode="json"),
                    "risk": risk.model_dump(mode="json"),
                },
            )
        ],
        ctx.issued_by,
    )
    return {
        "symbol": req.symbol,
        "version": record.version,
        "changed": True,
        "strategy": strategy_json,
        "risk": risk_json,
        "seq": seq,
    }


def _check_flat(ctx: AdminContext, symbol: str, old_kind: str, new_kind: str) -> None:
    """Refuse a change of strategy kind unless the symbol is flat with no open order."""
    local, venue = _position_qty(ctx, symbol)
    orders = [
        o for o in _venue(ctx, symbol).open_orders(symbol) if is_ours(symbol, o.client_order_id)
    ]
    problems = []
    if local != 0 or (venue or 0) != 0:
        problems.append(f"position {canon(venue if venue else local)}")
    if orders:
        listed = ", ".join(f"{o.side.value} {canon(o.price)}" for o in orders[:5])
        problems.append(f"{len(orders)} open order(s) ({listed})")
    if problems:
        raise ValidationError(
            f"strategy: kind can change from {old_kind!r} to {new_kind!r} only while {symbol} "
            f"is flat with no open orders, received {' and '.join(problems)}; pause it and "
            "close the position first"
        )


def list_symbols(ctx: AdminContext, include_removed: bool) -> dict[str, Any]:
    """Return the registry's rows."""
    with ctx.transaction() as conn:
        records = store.list_symbols(
            conn,
            None
            if include_removed
            else (RegistryStatus.ACTIVE, RegistryStatus.PAUSED, RegistryStatus.ERROR),
        )
    return {"symbols": [r.to_json() for r in records]}
