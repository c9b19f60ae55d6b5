"""The chaos scenarios: each breaks one thing in a running private fleet, then lets it heal.

A trial: make sure the fleet trades, inject the fault, time how long each affected symbol
takes to trade again, pause the price feed, wait until the fleet is quiet, run the invariant
checker, resume the feed. A scenario function injects one fault and returns a `Fault`.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis
from kombu.exceptions import OperationalError

from chaos.fleet import ChaosFleet, crash_points
from chaos.hostile import admin_calls, inbox_garbage, symbol_task_garbage
from mmtasks.audit.invariants import check
from mmtasks.audit.model import SymbolReport
from mmtasks.audit.settle import wait_settled
from mmtasks.grid.ids import is_ours
from mmtasks.state.keys import keys_for


@dataclass(frozen=True)
class Options:
    """Sizes and durations of the scenarios (`--quick` shortens them)."""

    settle_s: float = 60.0
    recover_s: float = 90.0
    heal_s: float = 15.0  # feed keeps running this long after trading again, before settling
    kill_window_s: float = 8.0
    latency_ms: int = 6000
    latency_s: float = 10.0
    error_burst: int = 30
    freeze_s: float = 30.0
    postgres_down_s: float = 60.0
    crash_wait_s: float = 30.0
    admin_calls: int = 1000
    bad_messages: int = 500
    result_timeout_s: float = 120.0

    @classmethod
    def quick(cls) -> Options:
        return cls(
            settle_s=30.0,
            recover_s=45.0,
            heal_s=12.0,
            kill_window_s=3.0,
            latency_s=6.0,
            freeze_s=8.0,
            postgres_down_s=10.0,
            crash_wait_s=20.0,
            admin_calls=200,
            bad_messages=100,
        )


@dataclass
class Fault:
    """What a scenario did: which symbols it hit, when the fault ended, what it saw."""

    targets: list[str]
    end_ms: int = 0
    anomalies: int = 0  # scenario-specific failures: bad admin answers, stray keys
    notes: list[str] = field(default_factory=list)


@dataclass
class TrialResult:
    scenario: str
    reports: list[SymbolReport]
    settled: bool
    unsettled: dict[str, str]
    recovery_s: dict[str, float | None]
    anomalies: int
    notes: list[str]


@dataclass
class Context:
    fleet: ChaosFleet
    opts: Options
    rng: random.Random
    log: Callable[[str], None]
    events_reset_ms: int = 0  # set when Redis (and mm:events with it) was lost
    r: redis.Redis = field(init=False)
    exchange: Any = field(init=False)
    sim: Any = field(init=False)

    def __post_init__(self) -> None:
        self.r = self.fleet.redis()
        self.exchange = self.fleet.exchange()
        self.sim = self.fleet.sim()

    @property
    def symbols(self) -> list[str]:
        return self.fleet.symbols


def now_ms() -> int:
    return int(time.time() * 1000)


# -- observing ----------------------------------------------------------------------------------


def trading(ctx: Context, symbol: str, since_ms: int) -> bool:
    """Return True when symbol is ACTIVE, has stepped since since_ms and rests an order of ours."""
    try:
        state = ctx.r.hgetall(keys_for(symbol).state)
        if state.get("status", "ACTIVE") != "ACTIVE" or "anchor" not in state:
            return False
        if int(state.get("last_step_ms") or 0) < since_ms:
            return False
        orders = ctx.exchange.open_orders(symbol)
    except Exception:  # a server still down or a burst still failing: not trading yet
        return False
    return any(is_ours(symbol, o.client_order_id) for o in orders)


def time_to_trading(ctx: Context, symbols: list[str], since_ms: int) -> dict[str, float | None]:
    """Return seconds from since_ms until each symbol trades again (None: not within recover_s)."""
    found: dict[str, float | None] = dict.fromkeys(symbols)
    deadline = time.monotonic() + ctx.opts.recover_s
    while time.monotonic() < deadline and any(v is None for v in found.values()):
        for s in symbols:
            if found[s] is None and trading(ctx, s, since_ms):
                found[s] = (now_ms() - since_ms) / 1000
        time.sleep(0.2)
    return found


def respawn_dead(ctx: Context) -> list[str]:
    """Start again any child that died (as a supervisor would); return their names."""
    dead = ctx.fleet.dead()
    for name in dead:
        if name.startswith("worker-"):
            ctx.fleet.spawn_worker(name.removeprefix("worker-").upper())
        elif name == "bridge":
            ctx.fleet.spawn_bridge()
        else:
            ctx.log(f"  {name} died and cannot be restarted by the suite")
    return dead


def silent_workers(ctx: Context) -> list[str]:
    """Return the Celery worker children that exited or do not answer a ping within recover_s.

    Every scenario must leave them all running and connected (after a Redis restart, each
    reconnects by itself); the suite restarts a dead one only before the next trial.
    """
    nodes = ctx.fleet.worker_nodes()
    missing = sorted(nodes)
    deadline = time.monotonic() + ctx.opts.recover_s
    while missing and time.monotonic() < deadline:
        if all(name in ctx.fleet.dead() for name in missing):
            break  # none of them will answer
        try:  # returns as soon as every node answered
            replies = ctx.fleet.app.control.ping(timeout=2.0, limit=len(nodes)) or []
        except (OSError, redis.RedisError, OperationalError):  # the suite's own, reconnecting
            replies = []
        answered = {hostname.split("@")[0] for reply in replies for hostname in reply}
        missing = [name for name in missing if nodes[name] not in answered]
    return missing


def stray_keys(ctx: Context) -> list[str]:
    """Return Redis keys of symbols that are not in the fleet (`mm:{zzzusdt}:...`)."""
    fleet = {s.lower() for s in ctx.symbols}
    out = []
    for key in ctx.r.scan_iter(match="mm:{*", count=1000):
        tag = key[key.index("{") + 1 : key.index("}")] if "}" in key else key
        if tag not in fleet:
            out.append(key[:60] + ("..." if len(key) > 60 else ""))
    return out


# -- the scenarios ------------------------------------------------------------------------------


def kill_worker(ctx: Context) -> Fault:
    """kill -9 one symbol worker's process group at a random moment; start a new one."""
    symbol = ctx.rng.choice(ctx.symbols)
    time.sleep(ctx.rng.uniform(0, ctx.opts.kill_window_s))
    ctx.fleet.kill(f"worker-{symbol.lower()}")
    ctx.fleet.spawn_worker(symbol)
    return Fault([symbol], now_ms(), notes=[f"killed worker-{symbol.lower()}"])


def crash_at(point: str) -> Callable[[Context], Fault]:
    """Return the scenario that makes a worker SIGKILL itself at crash point `point`."""

    def scenario(ctx: Context) -> Fault:
        symbol = ctx.rng.choice(ctx.symbols)
        name = f"worker-{symbol.lower()}"
        ctx.fleet.kill(name)
        child = ctx.fleet.spawn_worker(symbol, crash_at=point)
        deadline = time.monotonic() + ctx.opts.crash_wait_s
        nudged = 0.0
        while child.alive() and time.monotonic() < deadline:
            if time.monotonic() - nudged > 5:  # move the price across levels: orders must go out
                nudge_price(ctx, symbol)
                nudged = time.monotonic()
            time.sleep(0.1)
        fault = Fault([symbol])
        if child.alive():
            fault.notes.append(f"{point} not reached in {ctx.opts.crash_wait_s:.0f}s")
            ctx.fleet.kill(name)
        ctx.fleet.spawn_worker(symbol)
        fault.end_ms = now_ms()
        return fault

    scenario.__doc__ = f"worker SIGKILLs itself (and its pool parent) at crash point {point}"
    return scenario


def nudge_price(ctx: Context, symbol: str) -> None:
    """Trade the market two intervals away from the last price, so the grid must place."""
    try:
        strategy = json.loads(ctx.r.hget(keys_for(symbol).config, "strategy") or "{}")
        interval = Decimal(str(strategy.get("interval", "1")))
        price = ctx.exchange.latest_price(symbol).price
        step = interval * 2 * ctx.rng.choice((-1, 1))
        ctx.sim.inject_price(symbol, price + step)
    except Exception as exc:  # a nudge is a help, not part of the fault
        ctx.log(f"  nudge of {symbol} failed: {exc}")


def kill_bridge(ctx: Context) -> Fault:
    """kill -9 the bridge's process group at a random moment; start a new one."""
    time.sleep(ctx.rng.uniform(0, ctx.opts.kill_window_s))
    ctx.fleet.kill("bridge")
    ctx.fleet.spawn_bridge()
    return Fault(list(ctx.symbols), now_ms())


def redis_restart(ctx: Context) -> Fault:
    """SIGKILL Redis and start an empty one on the same port; no operator call."""
    assert ctx.fleet.redis_server is not None
    time.sleep(ctx.rng.uniform(0, ctx.opts.kill_window_s))
    ctx.fleet.redis_server.kill()
    ctx.fleet.redis_server.start()
    ctx.events_reset_ms = now_ms()
    return Fault(list(ctx.symbols), ctx.events_reset_ms)


def connector_errors(ctx: Context) -> Fault:
    """A burst of UNAVAILABLE answers plus latency_ms of added latency for latency_s."""
    ctx.sim.fail_next_calls(ctx.opts.error_burst, "UNAVAILABLE")
    ctx.sim.set_latency(ctx.opts.latency_ms)
    time.sleep(ctx.opts.latency_s)
    ctx.sim.set_latency(0)
    return Fault(list(ctx.symbols), now_ms())


def connector_freeze(ctx: Context) -> Fault:
    """SIGSTOP the connector for freeze_s, then SIGCONT."""
    ctx.fleet.signal("connector", signal.SIGSTOP)
    try:
        time.sleep(ctx.opts.freeze_s)
    finally:
        ctx.fleet.signal("connector", signal.SIGCONT)
    return Fault(list(ctx.symbols), now_ms())


def postgres_stop(ctx: Context) -> Fault:
    """Stop Postgres for postgres_down_s, then start it again."""
    assert ctx.fleet.postgres is not None
    ctx.fleet.postgres.stop()
    try:
        time.sleep(ctx.opts.postgres_down_s)
    finally:
        ctx.fleet.postgres.start()
    return Fault(list(ctx.symbols), now_ms())


def hostile_admin(ctx: Context) -> Fault:
    """Send admin_calls hostile admin calls; every answer must be a dict with a boolean ok."""
    app = ctx.fleet.app
    calls = admin_calls(ctx.rng, ctx.symbols, ctx.opts.admin_calls)
    sent = [
        (task, app.send_task(f"mmtasks.admin.{task}", args=args, kwargs=kwargs, queue="control"))
        for task, args, kwargs in calls
    ]
    fault = Fault(list(ctx.symbols))
    bad: list[str] = []
    accepted: list[str] = []
    deadline = time.monotonic() + ctx.opts.result_timeout_s
    for (task, args, kwargs), (_, result) in zip(calls, sent, strict=True):
        try:
            answer = result.get(timeout=max(1.0, deadline - time.monotonic()), propagate=False)
        except Exception as exc:
            answer = exc
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            bad.append(f"{task}{_short(args, kwargs)} -> {_short_value(answer)}")
        elif answer["ok"]:
            accepted.append(f"{task}{_short(args, kwargs)}")
    fault.anomalies = len(bad)
    fault.notes.append(f"{len(calls)} hostile admin calls: {len(bad)} bad answers")
    fault.notes += [f"bad answer: {line}" for line in bad[:5]]
    if accepted:
        fault.notes.append(f"{len(accepted)} accepted (ok: true), e.g. {accepted[:3]}")
    fault.end_ms = now_ms()
    return fault


def malformed_symbol(ctx: Context) -> Fault:
    """Send bad_messages garbage symbol-queue tasks and bad inbox payloads; nothing may break."""
    from mmtasks.enqueue import wake
    from mmtasks.state.store import SymbolStore

    app = ctx.fleet.app
    n_tasks = ctx.opts.bad_messages * 3 // 5
    for task, args, kwargs, queue in symbol_task_garbage(ctx.rng, ctx.symbols, n_tasks):
        app.send_task(task, args=args, kwargs=kwargs, queue=queue)
    for symbol, payload in inbox_garbage(ctx.rng, ctx.symbols, ctx.opts.bad_messages - n_tasks):
        SymbolStore(ctx.r, symbol).append(payload)
    for symbol in ctx.symbols:
        wake(app, symbol)
    fault = Fault(list(ctx.symbols))
    deadline = time.monotonic() + ctx.opts.result_timeout_s
    while time.monotonic() < deadline and any(ctx.r.llen(s.lower()) for s in ctx.symbols):
        time.sleep(0.2)
    stray = stray_keys(ctx)
    fault.anomalies = len(stray)
    fault.notes.append(f"{ctx.opts.bad_messages} malformed messages sent")
    if stray:
        fault.notes.append(f"{len(stray)} Redis keys for symbols not in the fleet: {stray[:4]}")
    fault.end_ms = now_ms()
    return fault


def _short(args: Any, kwargs: Any) -> str:
    return _short_value((args, kwargs), 80)


def _short_value(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


SCENARIOS: dict[str, Callable[[Context], Fault]] = {
    "kill-worker": kill_worker,
    **{f"crash-{point}": crash_at(point) for point in crash_points()},
    "kill-bridge": kill_bridge,
    "redis-restart": redis_restart,
    "connector-errors": connector_errors,
    "connector-freeze": connector_freeze,
    "postgres-stop": postgres_stop,
    "hostile-admin": hostile_admin,
    "malformed-symbol": malformed_symbol,
}


# -- one trial ----------------------------------------------------------------------------------


def run_trial(ctx: Context, name: str) -> TrialResult:
    """Run one trial of scenario `name`: warm up, fault, recovery, settle, check."""
    notes = [f"restarted after it died: {d}" for d in respawn_dead(ctx)]
    ctx.sim.set_feed(paused=False)
    warm = time_to_trading(ctx, ctx.symbols, 0)
    if any(v is None for v in warm.values()):
        notes.append(f"not trading before the fault: {[s for s, v in warm.items() if v is None]}")
    fault = SCENARIOS[name](ctx)
    recovery = time_to_trading(ctx, fault.targets, fault.end_ms)
    silent = silent_workers(ctx)
    if silent:
        notes.append(f"Celery workers dead or not answering after the fault: {silent}")
    # Retries, backoffs and the ledger's 10 s Postgres retry need steps, and steps need events:
    # a live market keeps sending them, so the feed runs a while longer before the check.
    time.sleep(ctx.opts.heal_s)
    ctx.sim.set_feed(paused=True)
    settled = wait_settled(
        ctx.r, ctx.symbols, exchange=ctx.exchange, timeout_s=ctx.opts.settle_s, quiet_s=2.0
    )
    reports = check(
        ctx.exchange,
        ctx.r,
        _pg_url(ctx),
        ctx.symbols,
        events_from_start=False if ctx.events_reset_ms else None,
        events_since_ms=ctx.events_reset_ms,
    )
    dead = ctx.fleet.dead()
    if dead:
        notes.append(f"dead after the trial: {dead}")
    return TrialResult(
        name,
        reports,
        settled.settled,
        settled.unsettled,
        recovery,
        fault.anomalies + len(silent),
        notes + fault.notes,
    )


def _pg_url(ctx: Context) -> str:
    assert ctx.fleet.settings is not None
    return ctx.fleet.settings.database_url
