"""Admin tasks on the control queue (`celery -A mmtasks call mmtasks.admin.<name>`).

Every task returns a JSON object, read back with `celery -A mmtasks result <id>`:

  {"ok": true, "task": "add_symbol", ...}         done; the other fields say what changed
  {"ok": false, "task": "add_symbol", "error": "strategy: interval must be > 0, received -1"}

`ok: false` means the call was refused and nothing changed: arguments are bound and validated
(pydantic, strict, unknown names refused) and every check runs before the first write. It is a
normal result, not a task failure, so `celery result` prints it as is and the worker logs one
line. A task *fails* (state FAILURE, traceback in the worker log and in
`celery result --traceback`) only when something outside the caller's control broke
(Postgres, Redis or the connector unreachable); what an operational failure left half done
is repaired by `rehydrate`, which brings Redis in line with the registry.

The control worker migrates the registry when it starts and then queues `rehydrate`, so a fleet
restarted on an empty Redis picks up every ACTIVE and PAUSED symbol again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from celery import Celery, Task
from celery.signals import worker_init, worker_ready

from mmtasks.celery import CONTROL_QUEUE, app
from mmtasks.errors import Response, TemporaryError, ValidationError, dependency_of, policy_for
from mmtasks.registry import fleet_ops, symbol_ops
from mmtasks.registry import rehydrate as rehydration
from mmtasks.registry.context import AdminContext
from mmtasks.registry.migrate import migrate
from mmtasks.registry.requests import (
    AddSymbol,
    AdminRequest,
    Halt,
    ListSymbols,
    NoArgs,
    Rehydrate,
    RemoveSymbol,
    Resume,
    SendTestAlert,
    SetFleetRisk,
    Status,
    SymbolOnly,
    UpdateSymbol,
    bind,
)
from mmtasks.registry.status import StatusReads, collect_status
from mmtasks.registry.store import list_symbols as registry_rows
from mmtasks.registry.workers import consumers_by_queue
from mmtasks.runtime import get_runtime
from mmtasks.settings import get_settings

log = logging.getLogger(__name__)

ADMIN = {"ignore_result": False, "bind": True, "typing": False, "max_retries": 0}
Handler = Callable[[AdminContext, Any], dict[str, Any]]


FIXES = {
    "postgres": "the registry database (DATABASE_URL) is unreachable: start Postgres or fix "
    "DATABASE_URL, then call again",
    "redis": "Redis (REDIS_URL) is unreachable: start Redis or fix REDIS_URL, then call again",
    "connector": "the exchange connector (CONNECTOR_ADDR) does not answer: start it or fix "
    "CONNECTOR_ADDR, then call again",
}


def dependency_error(exc: BaseException) -> str:
    """Return an admin error that names the dependency that failed and how to fix it."""
    dependency = dependency_of(exc) or "a dependency"
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return f"{dependency}: {FIXES.get(dependency, 'retry later')} ({detail})"


def run_admin(
    task: Task,
    model: type[AdminRequest],
    handler: Handler,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Bind and validate the call, run handler, and return its JSON result or its refusal."""
    name = task.name.rsplit(".", 1)[-1]
    try:
        request = bind(name, model, args, kwargs)
        ctx = AdminContext(rt=get_runtime(), app=app, task_id=task.request.id or "local")
        result = handler(ctx, request)
    except ValidationError as exc:
        log.warning("admin %s refused, nothing changed: %s", name, exc)
        return {"ok": False, "task": name, "error": str(exc)}
    except Exception as exc:
        # Infrastructure: every change and its audit row are one transaction, so a dependency
        # that fails mid-call leaves nothing half-changed; say which one and what to do.
        if policy_for(exc) not in (Response.RETRY, Response.AMBIGUOUS):
            raise
        error = dependency_error(exc)
        log.error("admin %s failed, nothing changed: %s", name, error)
        return {"ok": False, "task": name, "error": error}
    log.info("admin %s done: %s", name, result)
    return {"ok": True, "task": name, **result}


@app.task(name="mmtasks.admin.add_symbol", **ADMIN)
def add_symbol(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Register a symbol and start it: (symbol, exchange="sim", strategy, risk={}, consumer)."""
    return run_admin(self, AddSymbol, symbol_ops.add_symbol, args, kwargs)


@app.task(name="mmtasks.admin.remove_symbol", **ADMIN)
def remove_symbol(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Remove a symbol and cancel its orders; refused with a position open: (symbol, force)."""
    return run_admin(self, RemoveSymbol, symbol_ops.remove_symbol, args, kwargs)


@app.task(name="mmtasks.admin.pause_symbol", **ADMIN)
def pause_symbol(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Pause a symbol: cancel its resting orders, place nothing: (symbol)."""
    return run_admin(self, SymbolOnly, symbol_ops.pause_symbol, args, kwargs)


@app.task(name="mmtasks.admin.resume_symbol", **ADMIN)
def resume_symbol(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Resume a paused or ERROR symbol: reconcile, then trade: (symbol)."""
    return run_admin(self, SymbolOnly, symbol_ops.resume_symbol, args, kwargs)


@app.task(name="mmtasks.admin.update_symbol", **ADMIN)
def update_symbol(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Merge new strategy and/or risk keys into a symbol's config: (symbol, strategy, risk)."""
    return run_admin(self, UpdateSymbol, symbol_ops.update_symbol, args, kwargs)


@app.task(name="mmtasks.admin.halt", **ADMIN)
def halt(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Halt the whole fleet: every symbol cancels its orders and places nothing: (reason)."""
    return run_admin(self, Halt, lambda ctx, req: fleet_ops.halt(ctx, req.reason), args, kwargs)


@app.task(name="mmtasks.admin.resume", **ADMIN)
def resume(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Let the whole fleet trade again, the only way out of HALTED (audited): (reason)."""
    return run_admin(self, Resume, lambda ctx, req: fleet_ops.resume(ctx, req.reason), args, kwargs)


@app.task(name="mmtasks.admin.fleet_risk", **ADMIN)
def fleet_risk(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Report the fleet state, its risk limits and the figures of the last risk run."""
    return run_admin(self, NoArgs, lambda ctx, req: fleet_ops.fleet_risk(ctx), args, kwargs)


@app.task(name="mmtasks.admin.set_fleet_risk", **ADMIN)
def set_fleet_risk(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Set fleet risk limits by name, null removes one: (max_exposure_quote=..., ...)."""
    return run_admin(
        self,
        SetFleetRisk,
        lambda ctx, req: fleet_ops.set_fleet_risk(ctx, req.changes),
        args,
        kwargs,
    )


def _test_alert(ctx: AdminContext, req: SendTestAlert) -> dict[str, Any]:
    from mmtasks.alerts import alert

    scheduled = alert(ctx.redis, "test", "test alert", req.message, settings=ctx.rt.settings)
    return {"targets": len(ctx.rt.settings.alert_targets), "scheduled": scheduled}


@app.task(name="mmtasks.admin.test_alert", **ADMIN)
def test_alert(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Send a test alert through ALERT_URLS (gathered and rate limited like any): (message)."""
    return run_admin(self, SendTestAlert, _test_alert, args, kwargs)


def _status(ctx: AdminContext, req: Status) -> dict[str, Any]:
    with ctx.transaction() as conn:
        records = [
            r
            for r in registry_rows(conn, ("ACTIVE", "PAUSED", "ERROR"))
            if req.symbol in (None, r.symbol)
        ]
    if req.symbol is not None and not records:
        raise ValidationError(f"symbol {req.symbol} is not registered")
    consumers = consumers_by_queue(ctx.app)
    with ctx.broker() as broker:
        now_ms = int(time.time() * 1000)
        reads = StatusReads(ctx.redis, broker, consumers, now_ms, ctx.rt.settings.min_hosts)
        return collect_status(records, reads)


@app.task(name="mmtasks.admin.status", **ADMIN)
def status(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Report the fleet and each symbol: state, health, prices, queues, consumers, PnL: (symbol)."""
    return run_admin(self, Status, _status, args, kwargs)


@app.task(name="mmtasks.admin.list_symbols", **ADMIN)
def list_symbols(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """List the registry's symbols: (include_removed=false)."""
    return run_admin(
        self,
        ListSymbols,
        lambda ctx, req: symbol_ops.list_symbols(ctx, req.include_removed),
        args,
        kwargs,
    )


def _rehydrate(ctx: AdminContext, req: Rehydrate) -> dict[str, Any]:
    applied = migrate(ctx.rt.settings.database_url)
    with ctx.transaction() as conn:
        report = rehydration.rehydrate(
            conn, ctx.redis, ctx.app, ctx.rt.exchange_for, f"{ctx.issued_by}:{req.reason}"
        )
    return {"migrations": applied, **report}


@app.task(
    name="mmtasks.admin.rehydrate",
    **{**ADMIN, "max_retries": 8},
    autoretry_for=(TemporaryError, psycopg.OperationalError, redis.ConnectionError),
    retry_backoff=2,
    retry_backoff_max=60,
)
def rehydrate(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Bring Redis in line with the registry: init lost symbols, re-send lost commands: (reason)."""
    return run_admin(self, Rehydrate, _rehydrate, args, kwargs)


def consumes_control(celery_app: Celery) -> bool:
    """Return True when this worker process consumes the control queue."""
    return CONTROL_QUEUE in celery_app.amqp.queues.consume_from


@worker_init.connect
def migrate_on_control_start(sender: Any = None, **_: Any) -> None:
    """Migrate the registry before a control worker takes its first task."""
    if sender is None or not consumes_control(sender.app):
        return
    # Logging is configured only after worker_init: keep the outcome for worker_ready to log.
    try:
        applied = migrate(get_settings().database_url)
        _start_notes.append(
            (logging.INFO, f"registry migrations applied: {', '.join(applied) or 'none pending'}")
        )
    except psycopg.Error as exc:  # rehydrate migrates again, with retries, once Postgres is up
        _start_notes.append(
            (logging.ERROR, f"registry migration at start failed, rehydrate will retry: {exc}")
        )


_start_notes: list[tuple[int, str]] = []


@worker_ready.connect
def rehydrate_on_control_start(sender: Any = None, **_: Any) -> None:
    """Queue a rehydrate when a control worker is ready (Redis may have lost symbols)."""
    if sender is None or not consumes_control(sender.app):
        return
    for level, note in _start_notes:
        log.log(level, note)
    app.send_task(
        "mmtasks.admin.rehydrate",
        kwargs={"reason": "control worker start"},
        queue=CONTROL_QUEUE,
        ignore_result=True,
    )
    log.info("control worker ready: rehydrate queued")
