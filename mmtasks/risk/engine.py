"""The risk task's I/O: read the fleet, compute its figures, decide and announce its state.

Order of truth: Postgres `fleet_risk` holds the config, the state and the peaks (so neither a
restart nor a Redis wipe resets the high-water mark); `mm:fleet` in Redis is what every step
reads. A run locks the Postgres row, reads `mm:fleet` under that lock (an operator's resume
writes both under the same lock), and changes `mm:fleet` only if nobody changed it since it
was read (a halt that lands meanwhile wins). With Postgres down the run still decides, from
the peaks and config cached in `mm:risk`, and persists them once Postgres is back.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis
from celery import Celery

from mmtasks.alerts import alert, fleet_state_key, more_severe
from mmtasks.decimals import canon
from mmtasks.domain import FleetState, stricter
from mmtasks.enqueue import wake
from mmtasks.errors import Response, policy_for
from mmtasks.events import EventType, emit, event_fields
from mmtasks.grid.models import Position
from mmtasks.risk import store
from mmtasks.risk.config import FleetRiskConfig, parse_fleet_risk
from mmtasks.risk.decide import FleetDecision, decide_fleet_state
from mmtasks.risk.figures import FleetFigures, Peaks, SymbolBook, compute_figures
from mmtasks.runtime import Runtime
from mmtasks.state.keys import (
    FLEET,
    FLEET_OUTBOX_SUBJECT,
    RISK,
    RISK_LATENCY,
    SYMBOLS,
    SymbolKeys,
)
from mmtasks.state.record import SymbolState, read_each

log = logging.getLogger(__name__)

LATENCY_KEPT_S = 3600
LATENCY_KEPT_SAMPLES = 5000
SET_FLEET_IF_LUA = """
local state = redis.call('HGET', KEYS[1], 'state') or ''
local changed = redis.call('HGET', KEYS[1], 'changed_ms') or ''
if state ~= ARGV[1] or changed ~= ARGV[2] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _decoded(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def record_latency(client: redis.Redis | Any, ms: float, now_ms: int) -> None:
    """Add one connector round trip (ms) to the samples; client may be a pipeline."""
    client.zadd(RISK_LATENCY, {f"{int(ms)}:{uuid.uuid4().hex[:8]}": now_ms})
    client.zremrangebyscore(RISK_LATENCY, "-inf", now_ms - LATENCY_KEPT_S * 1000)
    client.zremrangebyrank(RISK_LATENCY, 0, -LATENCY_KEPT_SAMPLES - 1)


def latency_samples(client: redis.Redis, now_ms: int, window_s: int) -> list[int]:
    """Return the round trips (ms) recorded in the last window_s seconds."""
    members: list[bytes | str] = client.zrangebyscore(  # type: ignore[assignment]
        RISK_LATENCY, now_ms - window_s * 1000, "+inf"
    )
    return [int(_text(m).split(":", 1)[0]) for m in members]


def probe_connector(rt: Runtime) -> tuple[float, str]:
    """Time one connector round trip; return (ms, error) — a failure counts as the timeout.

    Every failure does, not only a temporary one: a venue that refuses the keys, or a connector
    answering INTERNAL, is when symbols go to ERROR, and the risk run (and its alerts) must go on
    then. One that is not temporary is logged as an error (each run while it lasts)."""
    started = time.perf_counter()
    try:
        rt.exchange.account()
    except Exception as exc:
        if policy_for(exc) not in (Response.RETRY, Response.AMBIGUOUS):
            log.error("connector probe failed, not temporarily: %s: %s", type(exc).__name__, exc)
        return rt.settings.connector_timeout_s * 1000, f"{type(exc).__name__}: {exc}"[:300]
    return (time.perf_counter() - started) * 1000, ""


def read_books(
    client: redis.Redis, symbols: Sequence[str]
) -> tuple[list[SymbolBook], dict[str, int]]:
    """Return each symbol's position and mark, and its fills waiting for the ledger."""

    def reads(pipe: Any, k: SymbolKeys) -> None:
        pipe.hgetall(k.position)
        pipe.hget(k.tick, "price")
        pipe.hgetall(k.state)
        pipe.llen(k.fills_out)

    books, backlog = [], {}
    for symbol, (raw, tick, state, waiting) in zip(
        symbols, read_each(client, symbols, reads), strict=True
    ):
        position = Position.from_dict(_decoded(raw)) if raw else Position()
        mark_text = _text(tick)
        last_price = SymbolState.parse(symbol, state).last_price
        mark = Decimal(mark_text) if mark_text else last_price
        books.append(SymbolBook(symbol, position, mark))
        backlog[symbol] = int(waiting)
    return books, backlog


def cached_peaks(cache: dict[str, str]) -> Peaks:
    """Return the peaks the last run cached in mm:risk."""
    return Peaks(
        high_water=Decimal(cache["high_water"]) if cache.get("high_water") else None,
        day=cache.get("day", ""),
        day_start_equity=Decimal(cache["day_start_equity"])
        if cache.get("day_start_equity")
        else None,
    )


def _higher(a: Peaks, b: Peaks) -> Peaks:
    """Return the peaks with the higher high-water mark (Postgres, or a run it missed)."""
    if a.high_water is None:
        return b if b.high_water is not None else a
    if b.high_water is None or a.high_water >= b.high_water:
        return a
    return Peaks(b.high_water, a.day or b.day, a.day_start_equity)


@dataclass(frozen=True)
class RiskRun:
    """What one run saw and did."""

    figures: FleetFigures
    config: FleetRiskConfig
    decision: FleetDecision
    before: str
    changed: bool
    persisted: bool


def run_risk(rt: Runtime, app: Celery, now_ms: int | None = None) -> RiskRun:
    """Compute the fleet's figures, decide its state, persist and announce a change."""
    now_ms = now_ms or int(time.time() * 1000)
    r = rt.redis
    ms, probe_error = probe_connector(rt)
    record_latency(r, ms, now_ms)
    symbols = sorted(_text(s) for s in r.smembers(SYMBOLS))
    books, backlog = read_books(r, symbols)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date().isoformat()
    cache = _decoded(r.hgetall(RISK))
    try:
        with rt.pg.connection() as conn, conn.transaction():
            row = store.load(conn, for_update=True)
            fleet = _decoded(r.hgetall(FLEET))  # under the row lock: see fleet_ops.resume
            peaks = (
                _higher(row.peaks, cached_peaks(cache))
                if cache.get("persisted") == "0"
                else row.peaks
            )
            run = _decide(
                r, row.config, peaks, fleet, row.state, row.set_by_operator, books, today, now_ms
            )
            store.save_peaks(conn, run.figures.peaks)
            target = run.decision.state
            if target is not row.state or run.changed:
                by_operator = (row.set_by_operator and target is row.state) or (
                    fleet.get("source") == "operator" and target.value == fleet.get("state")
                )
                store.save_state(conn, target, by_operator, run.decision.reason)
            changed = _apply(r, fleet, run, now_ms)
    except Exception as exc:
        if policy_for(exc) is not Response.RETRY:
            raise
        log.warning("risk: Postgres unavailable (%s); deciding from the cached peaks", exc)
        config = parse_fleet_risk(json.loads(cache.get("config") or "{}"))
        fleet = _decoded(r.hgetall(FLEET))
        run = _decide(
            r, config, cached_peaks(cache), fleet, FleetState.ACTIVE, False, books, today, now_ms
        )
        changed = _apply(r, fleet, run, now_ms)
        run = RiskRun(run.figures, run.config, run.decision, run.before, run.changed, False)
    run = RiskRun(run.figures, run.config, run.decision, run.before, changed, run.persisted)
    _cache(r, run, now_ms)
    if changed:
        _announce(rt, app, run)
    _alert_conditions(rt, probe_error, backlog)
    return run


def _decide(
    r: redis.Redis,
    config: FleetRiskConfig,
    peaks: Peaks,
    fleet: dict[str, str],
    stored: FleetState,
    stored_by_operator: bool,
    books: list[SymbolBook],
    today: str,
    now_ms: int,
) -> RiskRun:
    samples = latency_samples(r, now_ms, config.latency_window_s)
    figures = compute_figures(books, peaks, today, samples, config.capital_quote)
    in_redis = fleet.get("state") or FleetState.ACTIVE.value
    current = stricter(stored.value, in_redis)
    by_operator = (fleet.get("source") == "operator" and current.value == in_redis) or (
        stored_by_operator and current is stored
    )
    decision = decide_fleet_state(current, by_operator, figures, config)
    return RiskRun(figures, config, decision, in_redis, decision.state.value != in_redis, True)


def _apply(r: redis.Redis, fleet: dict[str, str], run: RiskRun, now_ms: int) -> bool:
    """Write the decided state to mm:fleet unless someone changed it since it was read."""
    if not run.changed:
        return False
    fields = {
        "state": run.decision.state.value,
        "reason": run.decision.reason,
        "changed_ms": str(now_ms),
        "changed_by": "risk",
        "source": "risk",
    }
    args: list[str] = [fleet.get("state", ""), fleet.get("changed_ms", "")]
    for key, value in fields.items():
        args += [key, value]
    return bool(r.eval(SET_FLEET_IF_LUA, 1, FLEET, *args))


def _cache(r: redis.Redis, run: RiskRun, now_ms: int) -> None:
    peaks = run.figures.peaks
    r.hset(
        RISK,
        mapping={
            "figures": json.dumps(run.figures.to_json()),
            "limits": json.dumps(run.config.limits()),
            "config": run.config.model_dump_json(exclude_none=True),
            "breaches": json.dumps([b.describe() for b in run.decision.breaches]),
            "state": run.decision.state.value,
            "updated_ms": str(now_ms),
            "high_water": canon(peaks.high_water) if peaks.high_water is not None else "",
            "day": peaks.day,
            "day_start_equity": canon(peaks.day_start_equity)
            if peaks.day_start_equity is not None
            else "",
            "persisted": "1" if run.persisted else "0",
        },
    )


def _announce(rt: Runtime, app: Celery, run: RiskRun) -> None:
    """Publish the change with the figures that caused it, wake every symbol, alert."""
    to = run.decision.state.value
    data = {
        "from": run.before,
        "to": to,
        "reason": run.decision.reason,
        "issued_by": "risk",
        "figures": run.figures.to_json(),
        "limits": run.config.limits(),
    }
    events = [event_fields(EventType.FLEET_STATE_CHANGED, FLEET_OUTBOX_SUBJECT, data)]
    for breach in run.decision.breaches:
        events.append(
            event_fields(
                EventType.RISK_LIMIT_BREACHED,
                FLEET_OUTBOX_SUBJECT,
                {
                    "limit": breach.limit,
                    "figure": breach.figure,
                    "threshold": breach.threshold,
                    "state": breach.state.value,
                },
            )
        )
    emit(rt.redis, FLEET_OUTBOX_SUBJECT, events)
    for symbol in sorted(_text(s) for s in rt.redis.smembers(SYMBOLS)):
        wake(app, symbol)
    log.warning("fleet %s -> %s by risk: %s", run.before, to, run.decision.reason)
    severity = {"ACTIVE": "info", "REDUCING": "warning", "HALTED": "failure"}[to]
    alert(
        rt.redis,
        fleet_state_key(run.before, to),
        f"fleet {run.before} -> {to}",
        f"{run.decision.reason}. Equity {canon(run.figures.equity)}, high-water "
        f"{canon(run.figures.high_water)}, exposure {canon(run.figures.exposure)}.",
        severity=severity,
        urgent=more_severe(run.before, to),
        settings=rt.settings,
    )


def _alert_conditions(rt: Runtime, probe_error: str, backlog: dict[str, int]) -> None:
    if probe_error:
        alert(
            rt.redis,
            "connector-down",
            "connector does not answer",
            f"{rt.settings.connector_addr}: {probe_error}",
            severity="failure",
            settings=rt.settings,
        )
    for symbol, waiting in backlog.items():
        if waiting > rt.settings.ledger_backlog_alert:
            alert(
                rt.redis,
                f"ledger-backlog:{symbol}",
                f"{symbol}: {waiting} fills wait for the ledger",
                "Postgres may be down or slow; the fills are kept in Redis until it answers.",
                settings=rt.settings,
            )
