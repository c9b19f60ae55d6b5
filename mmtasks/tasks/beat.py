"""Scheduled fleet tasks: the inbox sweeper, the healer, the periodic reconcile, fleet risk.

The risk task (docs/risk.md) computes the fleet's figures, decides ACTIVE / REDUCING /
HALTED, wakes every symbol on a change, and turns new events into alerts.

The healer is what makes the fleet mend itself without an operator:
- events a worker committed but did not relay (killed in between) are relayed;
- Redis that lost the fleet (restarted empty) is noticed — a registry symbol missing from
  Redis — and rehydrated from the registry and the exchange;
- a symbol in ERROR is recovered (reconcile, then trade) a bounded number of times with
  exponential backoff; when the attempts are used up it stays in ERROR, its entry orders are
  cancelled (closing orders kept) and RECOVERY_EXHAUSTED is published;
- a DEGRADED symbol whose retry is due and that nothing else woke is woken.

The retention sweep keeps each symbol's Redis bounded (`state/retention.py`): inboxes, outboxes
and trade sets trimmed behind their cursors, the event stream by count and age, and a removed
symbol's keys deleted once its grace period has passed, its fills in the ledger and its
events relayed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from mmtasks.celery import CONTROL_QUEUE, app
from mmtasks.domain import queue_for
from mmtasks.enqueue import PRICE_PENDING_TTL_S, PRICE_TASK, wake
from mmtasks.errors import Response, policy_for
from mmtasks.events import relay
from mmtasks.messages import UNREAD_PEEK, only_forming_candles
from mmtasks.registry.symbol_commands import send_command
from mmtasks.runtime import Runtime, get_runtime
from mmtasks.settings import get_settings
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import FLEET_OUTBOX_SUBJECT, SYMBOLS, SymbolKeys, keys_for
from mmtasks.state.record import SymbolState, read_each, read_record
from mmtasks.state.retention import RETENTION_EVERY_S, Retention, purge, trim
from mmtasks.state.store import inbox_entries

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 2.0
FORMING_DRAIN_S = 10  # a quiet symbol's forming candles wait this long at most for a step
PRICE_TASK_LOST_AFTER_S = 5
HEAL_EVERY_S = 2.0
RECONCILE_EVERY_S = 300.0
CONSUMERS_EVERY_S = 30.0
RECOVERY_FIELDS = ("attempts", "window_ms", "next_ms", "gave_up", "resumes")


def _symbols() -> list[str]:
    return sorted(
        s.decode() if isinstance(s, bytes) else s for s in get_runtime().redis.smembers(SYMBOLS)
    )


@app.task(name="mmtasks.beat.sweep_inboxes", ignore_result=True)
def sweep_inboxes() -> dict[str, Any]:
    """Wake every symbol with an empty queue whose inbox holds an event past its cursor that
    should have woken it (lost-message cover), or whose committed fills still wait in Redis for
    the ledger (a quiet symbol has no next step). Forming candles wake nobody (their symbol's
    next step applies them); a symbol with only those unread is woken once its last step is
    FORMING_DRAIN_S old, so a quiet symbol's volume monitor sees the forming candle that late
    at most."""
    r = get_runtime().redis
    symbols = _symbols()

    def reads(pipe: Any, k: SymbolKeys) -> None:
        pipe.get(k.seq)
        pipe.hgetall(k.state)
        pipe.llen(queue_for(k.symbol))
        pipe.llen(k.fills_out)
        pipe.ttl(k.price_pending)
        pipe.exists(k.lock)

    woken, behind = [], {}
    for symbol, answers in zip(symbols, read_each(r, symbols, reads), strict=True):
        issued, state, depth, buffered, flag_ttl, locked = answers
        if depth or locked:
            continue
        if 0 < flag_ttl < PRICE_PENDING_TTL_S - PRICE_TASK_LOST_AFTER_S:
            # A price task was announced seconds ago, none is queued and nobody steps: it was
            # lost (its worker killed, or dropped). Clear the flag, or prices stop for a minute.
            get_runtime().redis.delete(keys_for(symbol).price_pending)
            wake(app, symbol, PRICE_TASK)
            woken.append(symbol)
        elif buffered:
            wake(app, symbol)
            woken.append(symbol)
        else:
            record = SymbolState.parse(symbol, state)
            if int(issued or 0) > record.last_seq:
                behind[symbol] = record
    for symbol in _owed_a_drain(r, behind):
        wake(app, symbol)
        woken.append(symbol)
    if woken:
        log.warning(
            "sweeper woke %s: inbox ahead of cursor or fills unflushed, nothing queued", woken
        )
    return {"woken": woken}


def _owed_a_drain(r: Any, behind: dict[str, SymbolState]) -> list[str]:
    """Return the symbols behind their inbox that must be woken: any unread event but a
    forming candle (its task was lost), a long backlog, or a last step FORMING_DRAIN_S old."""
    pipe = r.pipeline(transaction=False)
    for symbol, record in behind.items():
        pipe.xrange(keys_for(symbol).inbox, f"({record.last_seq}-0", "+", count=UNREAD_PEEK)
    now_ms = int(time.time() * 1000)
    owed = []
    for (symbol, record), rows in zip(behind.items(), pipe.execute(), strict=True):
        forming_only = only_forming_candles([e.payload for e in inbox_entries(rows)])
        if not forming_only or now_ms - record.last_step_ms >= FORMING_DRAIN_S * 1000:
            owed.append(symbol)
    return owed


@app.task(name="mmtasks.beat.heal_fleet", ignore_result=True)
def heal_fleet() -> dict[str, Any]:
    """Relay stray events, rebuild what Redis lost, recover symbols in ERROR, wake retries."""
    rt = get_runtime()
    report: dict[str, Any] = {"rehydrated": _rehydrate_if_lost(rt)}
    symbols = _symbols()
    for subject in [*symbols, FLEET_OUTBOX_SUBJECT]:
        relay(rt.redis, subject)
    report |= _recover(rt, symbols)
    return report


def _rehydrate_if_lost(rt: Runtime) -> dict[str, Any] | None:
    """Rehydrate from the registry when Redis lacks a symbol the registry has; else None."""
    from mmtasks.registry import store
    from mmtasks.registry.rehydrate import rehydrate
    from mmtasks.registry.store import RegistryStatus

    try:
        with rt.pg.connection() as conn:
            records = store.list_symbols(conn, [RegistryStatus.ACTIVE, RegistryStatus.PAUSED])
            pipe = rt.redis.pipeline(transaction=False)
            for record in records:
                pipe.sismember(SYMBOLS, record.symbol)
                pipe.hexists(keys_for(record.symbol).config, "strategy")
            replies = pipe.execute()
            lost = [
                r.symbol
                for i, r in enumerate(records)
                if not (replies[2 * i] and replies[2 * i + 1])
            ]
            if not lost:
                return None
            log.warning("Redis lacks %s that the registry has: rehydrating", lost)
            return rehydrate(conn, rt.redis, app, rt.exchange_for, issued_by="beat:heal_fleet")
    except Exception as exc:
        if policy_for(exc) is not Response.RETRY:
            raise
        log.warning("healer: cannot compare Redis with the registry now: %s", exc)
        return None


def _recover(rt: Runtime, symbols: list[str]) -> dict[str, Any]:
    """Send due recovery attempts to symbols in ERROR; give up when the budget is spent."""
    now = int(time.time() * 1000)
    pipe = rt.redis.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hgetall(keys_for(symbol).state)
        pipe.hmget(keys_for(symbol).recovery, list(RECOVERY_FIELDS))
        pipe.llen(queue_for(symbol))
    replies = pipe.execute()
    attempted, exhausted, woken = [], [], []
    for i, symbol in enumerate(symbols):
        live = SymbolState.parse(symbol, replies[3 * i])
        budget = dict(zip(RECOVERY_FIELDS, (_text(v) for v in replies[3 * i + 1]), strict=True))
        depth = int(replies[3 * i + 2])
        if live.status is SymbolStatus.ERROR:
            outcome = _recover_one(rt, symbol, live, budget, now)
            if outcome == "attempted":
                attempted.append(symbol)
            elif outcome == "exhausted":
                exhausted.append(symbol)
        elif live.degraded and now >= (live.degraded.retry_at_ms or 0) and not depth:
            wake(app, symbol)
            woken.append(symbol)
    return {"recovery_attempted": attempted, "recovery_exhausted": exhausted, "woken": woken}


def _recover_one(
    rt: Runtime, symbol: str, live: SymbolState, budget: dict[str, str], now: int
) -> str:
    """Spend one attempt of symbol's recovery budget (`mm:{s}:recovery`, beat's own key).

    The budget starts again when its window has passed or an operator resumed the symbol
    since it began (the state's `resumes` moved on); the symbol's state is never written here:
    what changes it travels as a command through its inbox.
    """
    settings = rt.settings
    key = keys_for(symbol).recovery
    window_ms = int(settings.recovery_window_s * 1000)
    started = int(budget["window_ms"] or 0)
    resumes = live.recovery.resumes
    fresh = not started or now - started > window_ms or int(budget["resumes"] or 0) != resumes
    if fresh:
        budget = {"attempts": "0", "window_ms": str(now), "next_ms": "", "gave_up": ""}
        budget["resumes"] = str(resumes)
    if now < int(budget["next_ms"] or 0):
        return "waiting"
    attempts = int(budget["attempts"] or 0)
    if attempts >= settings.recovery_attempts:
        if budget["gave_up"] != "1":
            send_command(rt.redis, app, symbol, "give_up", {"attempts": attempts}, "beat:heal")
            _save_budget(rt, key, {**budget, "gave_up": "1"})  # sent once
            return "exhausted"
        return "gave up"
    attempts += 1
    delay_ms = int(settings.recovery_backoff_s * 1000 * 2 ** (attempts - 1))
    budget |= {"attempts": str(attempts), "next_ms": str(now + delay_ms)}
    _save_budget(rt, key, budget)
    send_command(rt.redis, app, symbol, "recover", {"attempt": attempts}, "beat:heal")
    log.warning("recovery attempt %d/%d sent to %s", attempts, settings.recovery_attempts, symbol)
    return "attempted"


def _save_budget(rt: Runtime, key: str, budget: dict[str, str]) -> None:
    rt.redis.hset(key, mapping=cast(dict[Any, Any], budget))  # redis-py types want Mapping[Any]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


@app.task(name="mmtasks.beat.fleet_risk", ignore_result=True)
def fleet_risk() -> dict[str, Any]:
    """Compute the fleet's risk figures, decide its state, alert on new events."""
    from mmtasks.alerts.watch import watch_events
    from mmtasks.risk.engine import run_risk

    rt = get_runtime()
    try:
        run = run_risk(rt, app)
    except Exception:  # the events already in the stream are alerted all the same
        try:
            watch_events(rt.redis, rt.settings)
        except Exception as watch_exc:  # the risk run's error is the one raised
            log.warning("alerts not watched this run either: %s", watch_exc)
        raise
    alerts = watch_events(rt.redis, rt.settings)
    return {
        "state": run.decision.state.value,
        "changed": run.changed,
        "reason": run.decision.reason,
        "persisted": run.persisted,
        "alerts": alerts,
    }


@app.task(name="mmtasks.beat.reconcile_all", ignore_result=True)
def reconcile_all() -> dict[str, Any]:
    """Enqueue a reconcile on every symbol's own queue."""
    symbols = _symbols()
    for symbol in symbols:
        app.send_task(
            "mmtasks.symbol.reconcile",
            args=[symbol, "schedule"],
            queue=queue_for(symbol),
            ignore_result=True,
        )
    return {"reconciled": symbols}


@app.task(name="mmtasks.beat.keep_bounded", ignore_result=True)
def keep_bounded() -> dict[str, Any]:
    """Trim every symbol's Redis behind its cursors; purge removed symbols past their grace."""
    rt = get_runtime()
    now = int(time.time() * 1000)
    trimmed = trim(rt.redis, _symbols(), Retention.of(rt.settings), now)
    return {"trimmed": trimmed.to_dict(), "purged": _purge_removed(rt, now)}


def _purge_removed(rt: Runtime, now_ms: int) -> dict[str, int]:
    """Delete the keys of registry-REMOVED symbols removed more than removed_grace_s ago."""
    from mmtasks.ledger import flush_buffer
    from mmtasks.registry import store
    from mmtasks.registry.store import RegistryStatus

    grace_ms = int(rt.settings.removed_grace_s * 1000)
    try:
        with rt.pg.connection() as conn:
            removed = store.list_symbols(conn, [RegistryStatus.REMOVED])
    except Exception as exc:
        if policy_for(exc) is not Response.RETRY:
            raise
        log.warning("retention: cannot read the registry now: %s", exc)
        return {}
    r, purged = rt.redis, {}
    for record in removed:
        k = keys_for(record.symbol)
        due = record.updated_at.timestamp() * 1000 + grace_ms <= now_ms
        if not due or not r.exists(*k.per_symbol):
            continue

        def ready(symbol: str = record.symbol) -> bool:
            live = read_record(r, symbol)
            if r.sismember(SYMBOLS, symbol) or live.status not in (None, SymbolStatus.REMOVED):
                return False  # added again, or its remove command is not applied yet
            flush_buffer(r, rt.pg, symbol)
            done = relay(r, symbol)
            return not r.llen(keys_for(symbol).fills_out) and done >= int(
                r.get(keys_for(symbol).event_seq) or 0
            )

        count = purge(r, record.symbol, ready)
        if count is not None:
            purged[record.symbol] = count
            log.info("purged removed symbol=%s: %d keys deleted", record.symbol, count)
    return purged


@app.task(name="mmtasks.beat.watch_consumers", ignore_result=True)
def watch_consumers() -> dict[str, Any]:
    """Alert on each symbol nobody consumes, or consumed on fewer hosts than MMTASKS_MIN_HOSTS
    asks (its host dies and nobody takes over): the same rule `status` flags."""
    from mmtasks.alerts import alert
    from mmtasks.registry.status import consumer_problem
    from mmtasks.registry.workers import consumers_by_queue

    rt = get_runtime()
    by_queue = consumers_by_queue(app)
    flagged = {}
    for symbol in _symbols():
        mine = by_queue.get(queue_for(symbol), [])
        problem = consumer_problem(mine, rt.settings.min_hosts)
        if problem:
            flagged[symbol] = problem
            title = f"{symbol}: {problem.split(':')[0]}"
            body = f"{symbol}: {problem}"
            alert(rt.redis, f"consumers:{symbol}", title, body, settings=rt.settings)
    return {"flagged": flagged}


app.conf.beat_schedule = {
    "watch-consumers": {
        "task": "mmtasks.beat.watch_consumers",
        "schedule": CONSUMERS_EVERY_S,
        "options": {"queue": CONTROL_QUEUE, "expires": CONSUMERS_EVERY_S * 2},
    },
    "keep-bounded": {
        "task": "mmtasks.beat.keep_bounded",
        "schedule": RETENTION_EVERY_S,
        "options": {"queue": CONTROL_QUEUE, "expires": RETENTION_EVERY_S * 2},
    },
    "sweep-inboxes": {"task": "mmtasks.beat.sweep_inboxes", "schedule": SWEEP_EVERY_S},
    "heal-fleet": {
        "task": "mmtasks.beat.heal_fleet",
        "schedule": HEAL_EVERY_S,
        "options": {"queue": CONTROL_QUEUE, "expires": HEAL_EVERY_S * 5},
    },
    "reconcile-all": {"task": "mmtasks.beat.reconcile_all", "schedule": RECONCILE_EVERY_S},
    "fleet-risk": {
        "task": "mmtasks.beat.fleet_risk",
        "schedule": get_settings().risk_every_s,
        "options": {"queue": CONTROL_QUEUE, "expires": get_settings().risk_every_s * 3},
    },
}
