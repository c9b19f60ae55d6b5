"""Printing the control worker's answers: tables, the status, the symbols, the risk."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

LONG_DECIMAL = re.compile(r"^-?\d+\.\d{9,}$")
SHOWN_PLACES = Decimal("0.00000001")


def shown(value: object) -> str:
    """Return value as text for a person: a decimal with more than 8 places rounded to 8.

    Averages and PnL carry the full precision of the arithmetic (28 digits); the ledger and
    `--json` keep it, a table does not need it.
    """
    text = "" if value is None else str(value)
    if not LONG_DECIMAL.match(text):
        return text
    rounded = Decimal(text).quantize(SHOWN_PLACES, ROUND_HALF_EVEN).normalize()
    return f"{rounded.copy_abs() if rounded.is_zero() else rounded:f}"


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """Return rows as an aligned text table under headers."""
    cells = [[str(h) for h in headers], *[[shown(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _compact(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def render_answer(answer: dict[str, Any]) -> str:
    """Return a generic admin answer as `key  value` lines."""
    rows = [(k, _compact(v)) for k, v in answer.items() if k not in ("ok", "task")]
    head = f"{answer.get('task', 'admin')}: done"
    return head + ("\n" + table(rows, ("field", "value")) if rows else "")


def render_status(answer: dict[str, Any]) -> str:
    """Return the fleet line and one row per symbol of a status answer."""
    fleet = answer.get("fleet", {})
    head = (
        f"fleet {fleet.get('state')}"
        + (f" ({fleet['reason']})" if fleet.get("reason") else "")
        + f"  healthy={fleet.get('healthy')}  symbols={fleet.get('symbols')}"
        + (f"  unhealthy={','.join(fleet['unhealthy'])}" if fleet.get("unhealthy") else "")
    )
    rows = []
    for s in answer.get("symbols", []):
        position = s.get("position", {})
        rows.append(
            (
                s.get("symbol"),
                s.get("exchange", "sim"),
                s.get("kind", "grid"),
                s.get("condition"),
                "yes" if s.get("healthy") else "NO",
                s.get("last_price"),
                position.get("qty"),
                position.get("realized_pnl"),
                position.get("unrealized_pnl"),
                len(s.get("open_orders") or []),
                s.get("queue_depth"),
                hosts_cell(s),
                "; ".join(s.get("problems") or []) or s.get("no_quote_reason") or "",
            )
        )
    headers = (
        "symbol",
        "venue",
        "kind",
        "state",
        "healthy",
        "price",
        "position",
        "realized",
        "unrealized",
        "orders",
        "queued",
        "hosts (*lock)",
        "problems",
    )
    return "\n".join(
        [
            head,
            *venue_lines(answer.get("venues") or {}),
            table(rows, headers),
            *signal_lines(answer.get("symbols", [])),
        ]
    )


def venue_lines(venues: dict[str, Any]) -> list[str]:
    """Return one line per real venue: its rate budget, and a pause when one is in force."""
    lines = []
    for name, v in sorted(venues.items()):
        buckets = "  ".join(
            f"{b['name']} {b['left']:.0f}/{b['capacity']:.0f} left (limit {b['limit']} per "
            f"{b['window_ms'] // 1000}s)"
            for b in v.get("scopes", [])
        )
        paused = (
            f"  PAUSED {v['paused_ms'] / 1000:.1f}s more: {v.get('pause_reason', '')}"
            if v.get("paused_ms")
            else ""
        )
        stats = v.get("stats", {})
        waits = f"  waits {stats.get('waits', 0)}, refused {stats.get('denied', 0)}"
        lines.append(f"venue {name}: {buckets}{waits}{paused}")
    return lines


def signal_lines(symbols: list[dict[str, Any]]) -> list[str]:
    """Return one line per signal symbol: its trade phase and each stage's state and errors."""
    lines = []
    for s in symbols:
        signal = s.get("signal")
        if not signal:
            continue
        trade = signal.get("trade", {})
        stages = "  ".join(
            f"{name}={stage.get('state')}"
            + (f"({stage.get('error_count')} errors)" if stage.get("error_count") else "")
            for name, stage in (signal.get("stages") or {}).items()
        )
        levels = "".join(
            f" {label} {trade[key]}"
            for key, label in (("stop_price", "stop"), ("take_profit_price", "take-profit"))
            if trade.get(key)
        )
        lines.append(
            f"{s.get('symbol')} signal: {trade.get('phase', 'FLAT')}, regime "
            f"{trade.get('regime', '-')}{levels}; stages {stages}"
        )
    return lines


def strategy_summary(strategy: dict[str, Any] | None) -> str:
    """Return a strategy config in a few words: its kind and the keys an operator tunes.

    A signal config's stages and rules run to hundreds of characters; `--json` has them.
    """
    if not strategy:
        return "-"
    from mmtasks.kinds import kind_of_raw  # the CLI imports models only when needed

    try:
        return kind_of_raw(strategy).summary(strategy)
    except ValueError:
        return f"unknown kind {strategy.get('kind')!r}"


@functools.cache
def _risk_defaults() -> dict[str, Any]:
    from mmtasks.registry.configs import parse_risk  # the CLI imports models only when needed

    return parse_risk({}).model_dump(mode="json")


def risk_summary(risk: dict[str, Any] | None) -> str:
    """Return the risk keys set to something other than their default, as `key=value` pairs."""
    defaults = _risk_defaults()
    pairs = [
        f"{k}={_compact(v)}"
        for k, v in (risk or {}).items()
        if v is not None and _compact(v) != _compact(defaults.get(k))
    ]
    return " ".join(pairs) or "defaults"


def render_symbols(answer: dict[str, Any]) -> str:
    """Return one row per registry symbol; whole configs are in `--json`."""
    rows = [
        (
            s["symbol"],
            s["status"],
            s["exchange"],
            s["version"],
            s.get("consumer") or "-",
            strategy_summary(s.get("strategy")),
            risk_summary(s.get("risk")),
        )
        for s in answer.get("symbols", [])
    ]
    return table(rows, ("symbol", "status", "exchange", "version", "consumer", "strategy", "risk"))


# Commands ---------------------------------------------------------------------------------


def render_risk(answer: dict[str, Any]) -> str:
    """Return the fleet risk answer as two small tables: figures, then limits."""
    lines = []
    if "fleet" in answer:
        lines.append(f"fleet {answer['fleet']}  {answer.get('reason', '')}".rstrip())
    figures = answer.get("figures") or {}
    if figures:
        lines.append("")
        lines += [f"  {name:<22} {shown(value)}" for name, value in figures.items()]
    for breach in answer.get("breaches") or []:
        lines.append(f"  breach: {breach}")
    lines.append("")
    lines.append("limits")
    for name, value in (answer.get("limits") or {}).items():
        lines.append(f"  {name:<26} {'-' if value is None else value}")
    return "\n".join(lines)


def hosts_cell(entry: dict[str, Any]) -> str:
    """Return the hosts consuming a symbol's queue, the lock holder's starred: `a*,b`."""
    hosts = entry.get("consumers_by_host") or {}
    holder = (entry.get("lock_holder") or "").rpartition(":")[0]
    return ",".join(f"{h}*" if h == holder else h for h in hosts) or "-"
