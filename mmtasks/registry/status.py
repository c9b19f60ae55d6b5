"""The fleet's health, per symbol and overall, from the registry, Redis, the broker and workers.

`collect_status` takes everything it reads as arguments (records, clients, the consumers each
queue has, the time), so the web `/status` endpoint can call it with its own connections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import redis

from mmtasks.decimals import canon
from mmtasks.domain import queue_for
from mmtasks.registry.store import RegistryStatus, SymbolRecord, list_symbols
from mmtasks.state.keys import FLEET, keys_for
from mmtasks.state.record import SymbolState, in_fleet_set

DEFAULT_STALE_AFTER_S = 60  # RiskConfig's default
POSITION_FIELDS = ("qty", "avg_cost", "realized_pnl", "fees", "volume")


def _decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


LISTED_STATUSES = ("ACTIVE", "PAUSED", "ERROR")  # and REMOVED while still in the fleet set


def listed_records(conn: Any, client: redis.Redis) -> list[SymbolRecord]:
    """Return the registry rows status lists: every symbol that trades, and a removed one its
    worker has not yet taken out of the fleet set (an order of it may still rest)."""
    records = list_symbols(conn, [*LISTED_STATUSES, RegistryStatus.REMOVED])
    draining = in_fleet_set(
        client, (r.symbol for r in records if r.status == RegistryStatus.REMOVED)
    )
    return [r for r in records if r.status != RegistryStatus.REMOVED or r.symbol in draining]


def problems_of(
    registry_status: str,
    state: str | None,
    consumers: list[str] | None,
    price_age_ms: int | None,
    stale_after_s: int,
    last_error: str,
    min_hosts: int = 1,
) -> list[str]:
    """Return why a symbol is unhealthy (empty when healthy)."""
    problems: list[str] = []
    if state is None:
        problems.append("no state in Redis: run mmtasks.admin.rehydrate")
    elif state != registry_status:
        detail = f": {last_error}" if last_error else ""
        problems.append(f"state {state} but the registry says {registry_status}{detail}")
    problem = consumer_problem(consumers, min_hosts)
    if problem:
        problems.append(problem)
    if registry_status == RegistryStatus.ACTIVE:
        if price_age_ms is None:
            problems.append("no price received yet")
        elif price_age_ms > stale_after_s * 1000:
            problems.append(
                f"last price is {price_age_ms // 1000}s old (stale after {stale_after_s}s)"
            )
    return problems


def host_of(node: str) -> str:
    """Return the host of a Celery node name (`symbols0@host-b` -> `host-b`)."""
    return node.rpartition("@")[2] or node


def by_host(nodes: list[str]) -> dict[str, list[str]]:
    """Return the nodes grouped by host, hosts and nodes sorted."""
    out: dict[str, list[str]] = {}
    for node in sorted(nodes):
        out.setdefault(host_of(node), []).append(node)
    return dict(sorted(out.items()))


def consumer_problem(consumers: list[str] | None, min_hosts: int = 1) -> str | None:
    """Return what is wrong with a queue's consumers, or None: nobody consumes it, or all of
    them are on fewer hosts than MMTASKS_MIN_HOSTS asks (no standby elsewhere)."""
    if consumers is None:
        return "consumer count unknown: no worker answered"
    if not consumers:
        return "nobody consumes its queue: start a worker for it (`mmtasks queues`)"
    hosts = by_host(consumers)
    if len(hosts) < min_hosts:
        return (
            f"consumed on {len(hosts)} host{'s' if len(hosts) > 1 else ''} "
            f"({', '.join(hosts)}) but MMTASKS_MIN_HOSTS is {min_hosts}: start a standby "
            "worker for its queue on another host (docs/deploy.md)"
        )
    return None


def lock_holder(token: bytes | str | None) -> str | None:
    """Return who holds a symbol's lock (`<host>:<pid>`) from its token, None when free."""
    text = token.decode() if isinstance(token, bytes) else token
    return text.rpartition("/")[0] or None if text else None


def _orders(slot_texts: list[Any]) -> dict[str, int]:
    counts = {"open": 0, "pending": 0, "buy": 0, "sell": 0}
    for text in slot_texts:
        slot = json.loads(text)
        if slot.get("status") == "LOCKED":
            counts["open"] += 1
            side = str(slot.get("side", "")).lower()
            if side in ("buy", "sell"):
                counts[side] += 1
        elif slot.get("status") == "PENDING":
            counts["pending"] += 1
    return counts


@dataclass(frozen=True)
class StatusReads:
    """What a status entry is read from, and when."""

    client: redis.Redis
    broker: redis.Redis | None  # the Celery broker, for queue depths (None: not known)
    consumers: dict[str, list[str]] | None  # workers by queue (None: not known)
    now_ms: int
    min_hosts: int = 1  # hosts the fleet should span


def symbol_status(record: SymbolRecord, reads: StatusReads) -> dict[str, Any]:
    """Return one symbol's status entry."""
    queue, now_ms = queue_for(record.symbol), reads.now_ms
    (state_raw, position_raw, slots, config_raw, health_raw, signal_raw, budget_raw, tick, lock) = (
        _read(reads.client, record.symbol)
    )
    live, position = SymbolState.parse(record.symbol, state_raw), _decode(position_raw)
    last_price, price_ts = _newest_price(live, _decode(tick))
    price_age_ms = now_ms - price_ts if price_ts else None
    stale_after_s = int(record.risk.get("stale_after_s", DEFAULT_STALE_AFTER_S))
    state = live.status.value if live.status is not None else None
    mine = None if reads.consumers is None else reads.consumers.get(queue, [])
    problems = problems_of(
        record.status, state, mine, price_age_ms, stale_after_s, live.last_error, reads.min_hosts
    )
    degraded = _degraded(live, now_ms)
    if degraded is not None:
        problems.append(
            f"DEGRADED for {degraded['for_s']}s ({degraded['dependency'] or 'a dependency'}), "
            f"retrying: {degraded['last_error']}"
        )
    orders = _orders(slots)
    left = orders["open"] + orders["pending"]
    draining = record.status == RegistryStatus.REMOVED and left > 0
    if draining:
        problems.append(
            f"removed, {left} order(s) of it may still rest at the venue: its worker cancels "
            "them (retrying while the venue fails) and takes it out of the fleet after"
        )
    kind = str(record.strategy.get("kind", "grid"))
    signal = None
    if kind == "signal":
        no_quote = None
        signal = signal_health(_decode(health_raw), signal_raw, now_ms)
        problems += [
            f"signal stage {name} {stage['state']}: {stage['last_error']}"
            for name, stage in signal["stages"].items()
            if stage["state"] in ("ERROR", "RECOVERING")
        ]
    else:
        no_quote = _no_quote_reason(_decode(config_raw), last_price, live.anchor)
    if no_quote and state == "ACTIVE":
        problems.append(no_quote)
    return {
        "symbol": record.symbol,
        "exchange": record.exchange,
        "kind": kind,
        "signal": signal,
        "queue": queue,
        "registry_status": record.status,
        "version": record.version,
        "state": state,
        "condition": "DEGRADED" if degraded else (state or "UNKNOWN"),
        "degraded": degraded,
        "recovery": _recovery(live, _decode(budget_raw)),
        "no_quote_reason": no_quote,
        "healthy": not problems and record.status != RegistryStatus.REMOVED,
        "problems": problems,
        "last_price": canon(last_price) if last_price is not None else None,
        "last_price_age_ms": price_age_ms,
        "queue_depth": int(reads.broker.llen(queue)) if reads.broker is not None else None,
        "consumers": mine,
        "consumer_count": None if mine is None else len(mine),
        "consumers_by_host": None if mine is None else by_host(mine),
        "lock_holder": lock_holder(lock),
        "position": _position(position, last_price),
        "open_orders": orders,
        "draining": draining,
        "risk": {
            "reduce_only": live.reduce_only,
            # failed steps in a row, retrying
            "error_count": live.degraded.retry_count if live.degraded else 0,
            "last_error": live.last_error,
            "max_position": record.risk.get("max_position"),
            "stale_after_s": stale_after_s,
        },
    }


def _read(client: redis.Redis, symbol: str) -> list[Any]:
    """Return, in one round trip: state, position, slot texts, config, health, the signal's
    trade fields, beat's recovery budget, the newest tick and the lock's token."""
    keys = keys_for(symbol)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.state)
    pipe.hgetall(keys.position)
    pipe.hvals(keys.slots)
    pipe.hgetall(keys.config)
    pipe.hgetall(keys.health)
    pipe.hmget(keys.signal, ["phase", "regime", "stop_price", "take_profit_price"])
    pipe.hgetall(keys.recovery)
    pipe.hgetall(keys.tick)
    pipe.get(keys.lock)
    return list(pipe.execute())


def _newest_price(live: SymbolState, tick: dict[str, str]) -> tuple[Decimal | None, int]:
    """Return the newest price known and its time: the bridge's tick, or the one the last step
    saw when that is newer (a tick inside the quiet band wakes no step, so the state's own
    price may be older than the market's)."""
    tick_ts = int(tick.get("ts_event_ms") or 0)
    if tick.get("price") and tick_ts >= live.last_price_ts_ms:
        return _decimal(tick["price"]), tick_ts
    return live.last_price, live.last_price_ts_ms


def _position(position: dict[str, str], last_price: Decimal | None) -> dict[str, str]:
    """Return the position's fields and its unrealized PnL at the last price."""
    qty, avg_cost = _decimal(position.get("qty")), _decimal(position.get("avg_cost"))
    unrealized = (
        qty * (last_price - avg_cost)
        if qty and last_price is not None and avg_cost is not None
        else Decimal(0)
    )
    return {f: position.get(f, "0") for f in POSITION_FIELDS} | {
        "unrealized_pnl": canon(unrealized)
    }


def _recovery(live: SymbolState, budget: dict[str, str]) -> dict[str, Any]:
    """Return beat's recovery budget as status shows it (none since an operator resumed)."""
    if int(budget.get("resumes") or 0) != live.recovery.resumes:
        budget = {}  # resumed since that budget began: beat starts a new one on its next error
    return {
        "attempts": int(budget.get("attempts") or 0),
        "exhausted": live.recovery.give_up,
        "next_attempt_ms": int(budget["next_ms"]) if budget.get("next_ms") else None,
    }


def signal_health(health_raw: dict[str, str], trade: list[Any], now_ms: int) -> dict[str, Any]:
    """Return a signal symbol's stages (state, errors, last error, last run, uptime) and trade."""
    from mmtasks.signal.health import STAGES, stage_from_json, symbol_report

    stages = {name: stage_from_json(name, health_raw.get(name)) for name in STAGES}
    report = symbol_report(stages, now_ms)
    phase, regime, stop, take_profit = (
        v.decode() if isinstance(v, bytes) else v for v in (list(trade) + [None] * 4)[:4]
    )
    report["trade"] = {
        "phase": phase or "FLAT",
        "regime": regime or "range",
        "stop_price": stop or None,
        "take_profit_price": take_profit or None,
    }
    return report


def _degraded(live: SymbolState, now_ms: int) -> dict[str, Any] | None:
    """Return the DEGRADED condition of a symbol (a temporary fault being retried), or None."""
    d = live.degraded
    if d is None:
        return None
    return {
        "since_ms": d.since_ms,
        "for_s": max(0, (now_ms - d.since_ms) // 1000),
        "last_error": live.last_error,
        "dependency": live.last_error_dependency,
        "retries": d.retry_count,
        "retry_at_ms": d.retry_at_ms,
    }


def _no_quote_reason(
    config: dict[str, str], price: Decimal | None, anchor: Decimal | None
) -> str | None:
    """Return why the symbol's grid would quote nothing at its last price, if that is so."""
    if price is None or not config.get("strategy") or not config.get("rules"):
        return None
    from mmtasks.grid.models import GridConfig, RiskConfig, SymbolRules
    from mmtasks.grid.quotable import no_quote_reason

    try:
        strategy = GridConfig.model_validate_json(config["strategy"])
        risk = (
            RiskConfig.model_validate_json(config["risk"]) if config.get("risk") else RiskConfig()
        )
        rules = SymbolRules.from_dict(json.loads(config["rules"]))
    except ValueError as exc:
        return f"stored config unreadable: {exc}"
    return no_quote_reason(strategy, risk, rules, price, anchor=anchor)


def collect_status(records: list[SymbolRecord], reads: StatusReads) -> dict[str, Any]:
    """Return the fleet's status and one entry per symbol."""
    fleet = _decode(reads.client.hgetall(FLEET))
    symbols = [symbol_status(r, reads) for r in records]
    # A removed symbol counts while an order of it may rest (draining).
    trading = [
        s for s in symbols if s["registry_status"] != RegistryStatus.REMOVED or s["draining"]
    ]
    state = fleet.get("state", "ACTIVE")
    workers = sorted({w for ws in (reads.consumers or {}).values() for w in ws})
    return {
        "fleet": {
            "state": state,
            "reason": fleet.get("reason", ""),
            "changed_ms": int(fleet["changed_ms"]) if fleet.get("changed_ms") else None,
            "healthy": state == "ACTIVE" and all(s["healthy"] for s in trading),
            "symbols": len(trading),
            "unhealthy": [s["symbol"] for s in trading if not s["healthy"]],
            "workers": workers,
            "hosts": sorted({host_of(w) for w in workers}),
            "min_hosts": reads.min_hosts,
        },
        "venues": venues_status(reads.client),
        "symbols": symbols,
    }


def venues_status(client: redis.Redis) -> dict[str, Any]:
    """Each real venue's rate budget: a pause in force, what each bucket has left."""
    from mmtasks.budget import budget_status

    try:
        return budget_status(client)
    except redis.RedisError:
        return {}
