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
from mmtasks.registry.status import StatusReads, collect_status, listed_records
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


def _test_alert(ctx: AdminContext, req: SendTestAlert) -> dict[str, Any]:
    from mmtasks.alerts import alert

    scheduled = alert(ctx.redis, "test", "test alert", req.message, settings=ctx.rt.settings)
    return {"targets": len(ctx.rt.settings.alert_targets), "scheduled": scheduled}


def _status(ctx: AdminContext, req: Status) -> dict[str, Any]:
    with ctx.transaction() as conn:
        records = [r for r in listed_records(conn, ctx.redis) if req.symbol in (None, r.symbol)]
    if req.symbol is not None and not records:
        raise ValidationError(f"symbol {req.symbol} is not registered")
    consumers = consumers_by_queue(ctx.app)
    with ctx.broker() as broker:
        now_ms = int(time.time() * 1000)
        reads = StatusReads(ctx.redis, broker, consumers, now_ms, ctx.rt.settings.min_hosts)
        return collect_status(records, reads)


def _rehydrate(ctx: AdminContext, req: Rehydrate) -> dict[str, Any]:
    applied = migrate(ctx.rt.settings.database_url)
    with ctx.transaction() as conn:
        report = rehydration.rehydrate(
            conn, ctx.redis, ctx.app, ctx.rt.exchange_for, f"{ctx.issued_by}:{req.reason}"
        )
    return {"migrations": applied, **report}


def admin_task(
    name: str, model: type[AdminRequest], handler: Handler, doc: str, **options: Any
) -> Task:
    """Register mmtasks.admin.<name>: bind the call to model, run handler, answer in JSON."""

    def task(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return run_admin(self, model, handler, args, kwargs)

    task.__name__ = task.__qualname__ = name
    task.__doc__ = doc
    registered: Task = app.task(name=f"mmtasks.admin.{name}", **{**ADMIN, **options})(task)
    return registered


# Every admin task but rehydrate: its request model, its handler, what it does (its arguments).
SPECS: dict[str, tuple[type[AdminRequest], Handler, str]] = {
    "add_symbol": (
        AddSymbol,
        symbol_ops.add_symbol,
        'Register a symbol and start it: (symbol, exchange="sim", strategy, risk={}, consumer).',
    ),
    "remove_symbol": (
        RemoveSymbol,
        symbol_ops.remove_symbol,
        "Remove a symbol and cancel its orders; refused with a position open: (symbol, force).",
    ),
    "pause_symbol": (
        SymbolOnly,
        symbol_ops.pause_symbol,
        "Pause a symbol: cancel its resting orders, place nothing: (symbol).",
    ),
    "resume_symbol": (
        SymbolOnly,
        symbol_ops.resume_symbol,
        "Resume a paused or ERROR symbol: reconcile, then trade: (symbol).",
    ),
    "update_symbol": (
        UpdateSymbol,
        symbol_ops.update_symbol,
        "Merge new strategy and/or risk keys into a symbol's config: (symbol, strategy, risk).",
    ),
    "list_symbols": (
        ListSymbols,
        lambda ctx, req: symbol_ops.list_symbols(ctx, req.include_removed),
        "List the registry's symbols: (include_removed=false).",
    ),
    "halt": (
        Halt,
        lambda ctx, req: fleet_ops.halt(ctx, req.reason),
        "Halt the whole fleet: every symbol cancels its orders and places nothing: (reason).",
    ),
    "resume": (
        Resume,
        lambda ctx, req: fleet_ops.resume(ctx, req.reason),
        "Let the whole fleet trade again, the only way out of HALTED (audited): (reason).",
    ),
    "fleet_risk": (
        NoArgs,
        lambda ctx, req: fleet_ops.fleet_risk(ctx),
        "Report the fleet state, its risk limits and the figures of the last risk run.",
    ),
    "set_fleet_risk": (
        SetFleetRisk,
        lambda ctx, req: fleet_ops.set_fleet_risk(ctx, req.changes),
        "Set fleet risk limits by name, null removes one: (max_exposure_quote=..., ...).",
    ),
    "test_alert": (
        SendTestAlert,
        _test_alert,
        "Send a test alert through ALERT_URLS (gathered and rate limited like any): (message).",
    ),
    "status": (
        Status,
        _status,
        "Report the fleet and each symbol: state, health, prices, queues, consumers, PnL: "
        "(symbol).",
    ),
}
TASKS: dict[str, Task] = {name: admin_task(name, *spec) for name, spec in SPECS.items()}
# Rehydrate retries while a dependency is down: the control worker queues it as it starts.
TASKS["rehydrate"] = admin_task(
    "rehydrate",
    Rehydrate,
    _rehydrate,
    "Bring Redis in line with the registry: init lost symbols, re-send lost commands: (reason).",
    max_retries=8,
    autoretry_for=(TemporaryError, psycopg.OperationalError, redis.ConnectionError),
    retry_backoff=2,
    retry_backoff_max=60,
)


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
