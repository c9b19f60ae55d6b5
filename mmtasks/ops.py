"""Operator commands of `mmtasks`: admin tasks sent and answered, the ledger read directly.

Each admin command sends the same task as `celery -A mmtasks call mmtasks.admin.<name>`, waits
for its answer and prints it as a table (or as JSON with --json). Exit status: 0 done,
1 refused (`ok: false`, nothing changed), 3 a service or the control worker did not answer.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from mmtasks.settings import Settings, get_settings

ANSWER_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 3
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3
START_CONTROL = "celery -A mmtasks worker -Q control -c 2 (or `make run`)"


class Unreachable(Exception):
    """A service or worker did not answer; the message is the one line to print."""


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def unreachable(service: str, var: str, url: str, settings: Settings, exc: object) -> Unreachable:
    """Return the one-line error for a service that cannot be reached, with where and a fix."""
    detail = " ".join(str(exc).split())[:160].rstrip(".") or type(exc).__name__
    return Unreachable(
        f"cannot reach {service} at {_redact(url)} ({var} from {settings.where(var)}): {detail}; "
        f"start {service} or set {var} (or run `make run` and call from the project folder)"
    )


def check_redis(settings: Settings) -> Any:
    """Return a Redis client on settings' Redis after a ping; raise Unreachable within seconds."""
    import redis

    pairs = [("REDIS_URL", settings.redis_url)]
    if settings.celery_broker_url != settings.redis_url:
        pairs.append(("CELERY_BROKER_URL", settings.celery_broker_url))
    clients = []
    for var, url in pairs:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            decode_responses=True,
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise unreachable("Redis", var, url, settings, exc) from exc
        clients.append(client)
    return clients[0]


def connect_postgres(settings: Settings) -> Any:
    """Return a Postgres connection on the ledger; raise Unreachable within seconds."""
    import psycopg

    try:
        return psycopg.connect(settings.database_url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise unreachable("Postgres", "DATABASE_URL", settings.database_url, settings, exc) from exc


def call_admin(
    settings: Settings, task: str, kwargs: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Send mmtasks.admin.<task> and return its answer; raise Unreachable if none comes."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from mmtasks.celery import CONTROL_QUEUE, make_app

    check_redis(settings)
    app = make_app(settings)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    # Unanswered, the call expires: a control worker started later must not apply it unasked.
    result = app.send_task(f"mmtasks.admin.{task}", kwargs=kwargs, expires=timeout_s)
    try:
        answer = result.get(timeout=timeout_s, propagate=False)
    except CeleryTimeout as exc:
        raise Unreachable(
            f"no answer to mmtasks.admin.{task} within {timeout_s:.0f}s: no worker consumes the "
            f"`{CONTROL_QUEUE}` queue; start one with {START_CONTROL}. Nothing was changed "
            "(the call expires unanswered)"
        ) from exc
    finally:
        app.backend.remove_pending_result(result)  # unsubscribe now, not at interpreter exit
    if not isinstance(answer, dict):  # the task failed: a traceback is in the worker's log
        return {"ok": False, "task": task, "error": f"task failed: {answer!r}"}
    return answer


# Output -----------------------------------------------------------------------------------


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
                ",".join(s.get("consumers") or []) or "-",
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
        "worker",
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
    size = (
        f"qty {strategy['order_qty']}"
        if strategy.get("order_qty") is not None
        else f"notional {strategy.get('order_notional')}"
    )
    if strategy.get("kind", "grid") == "signal":
        exits = ", ".join(
            f"{label} {strategy[key]}{unit}"
            for key, label, unit in (
                ("stop_atr", "stop", "xATR"),
                ("stop_pct", "stop", "%"),
                ("take_profit_atr", "tp", "xATR"),
                ("take_profit_pct", "tp", "%"),
            )
            if strategy.get(key) is not None
        )
        indicators = strategy.get("indicators") or []
        return f"signal {len(indicators)} indicators, {size}" + (f", {exits}" if exits else "")
    return (
        f"grid {strategy.get('mode', 'long')} every {strategy.get('interval')}, "
        f"{strategy.get('buy_levels', 10)}/{strategy.get('sell_levels', 10)} levels, {size}"
    )


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


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, received {text!r}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, received {text!r}")
    return value


def _admin(
    task: str,
    kwargs_of: Callable[[argparse.Namespace], dict[str, Any]],
    render: Callable[[dict[str, Any]], str] = render_answer,
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        answer = call_admin(get_settings(), task, kwargs_of(args), args.timeout)
        if args.json:
            print(json.dumps(answer, indent=2, default=str))
        elif answer.get("ok"):
            print(render(answer))
        if not answer.get("ok"):
            print(f"mmtasks {args.command}: refused: {answer.get('error')}", file=sys.stderr)
            return EXIT_REFUSED
        return 0

    return run


INT_LIMITS = ("max_connector_latency_ms", "latency_window_s")


def parse_limit(text: str) -> tuple[str, Any]:
    """Return (name, value) of `name=value`; 'none' removes the limit, ms and s are integers."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE such as max_exposure_quote=50000, received {text!r}"
        )
    if value.lower() == "none":
        return name, None
    if name in INT_LIMITS:
        if not value.isdigit():
            raise argparse.ArgumentTypeError(f"{name} must be an integer, received {value!r}")
        return name, int(value)
    return name, value


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


def _add_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    strategy: dict[str, Any] = dict(args.strategy or {})
    for key, value in (
        ("interval", args.interval),
        ("order_qty", args.order_qty),
        ("order_notional", args.order_notional),
        ("mode", args.mode),
        ("buy_levels", args.levels),
        ("sell_levels", args.levels),
    ):
        if value is not None:
            strategy[key] = value
    kwargs: dict[str, Any] = {"symbol": args.symbol, "strategy": strategy, "risk": args.risk or {}}
    if args.exchange:
        kwargs["exchange"] = args.exchange
    if args.consumer:
        kwargs["consumer"] = args.consumer
    return kwargs


def _update_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"symbol": args.symbol}
    if args.strategy is not None:
        kwargs["strategy"] = args.strategy
    if args.risk is not None:
        kwargs["risk"] = args.risk
    return kwargs


def parse_since(text: str) -> int:
    """Return epoch ms from an ISO time (UTC unless it says otherwise) or a number of ms."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time (2026-12-01T16:00:00) or epoch ms, received {text!r}"
        ) from exc
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _iso(ts_ms: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def cmd_fills(args: argparse.Namespace) -> int:
    """Print the ledger's fills of a symbol, oldest first."""
    with connect_postgres(get_settings()) as conn:
        rows = conn.execute(
            "SELECT trade_id, ts_ms, side, price, qty, fee, closing, client_order_id "
            "FROM fills WHERE symbol = %s AND ts_ms >= %s ORDER BY ts_ms DESC, trade_id DESC "
            "LIMIT %s",
            (args.symbol.upper(), args.since, args.limit),
        ).fetchall()
    rows.reverse()
    if args.json:
        keys = ("trade_id", "ts_ms", "side", "price", "qty", "fee", "closing", "client_order_id")
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2, default=str))
        return 0
    shown = [
        (t, _iso(ts), s, p, q, f, "yes" if c else "", cid) for t, ts, s, p, q, f, c, cid in rows
    ]
    print(table(shown, ("trade_id", "time", "side", "price", "qty", "fee", "closing", "client_id")))
    print(
        f"{len(rows)} fill(s) of {args.symbol.upper()}"
        + (" (limit)" if len(rows) == args.limit else "")
    )
    return 0


def cmd_pnl(args: argparse.Namespace) -> int:
    """Print each symbol's PnL recomputed from the ledger beside the realized PnL in Redis."""
    from mmtasks.ledger import summarize
    from mmtasks.state.keys import keys_for

    settings = get_settings()
    redis_client = check_redis(settings)
    with connect_postgres(settings) as conn:
        if args.symbol:
            symbols = [args.symbol.upper()]
        else:
            symbols = [r[0] for r in conn.execute("SELECT DISTINCT symbol FROM fills ORDER BY 1")]
        out = []
        for symbol in symbols:
            summary = summarize(conn, symbol)
            live = redis_client.hget(keys_for(symbol).position, "realized_pnl")
            out.append(
                {
                    "symbol": symbol,
                    "fills": summary.fills,
                    "position": summary.position,
                    "avg_cost": summary.avg_cost,
                    "realized_pnl": summary.realized_pnl,
                    "fees": summary.fees,
                    "volume": summary.volume,
                    "redis_realized_pnl": live,
                    "agrees": live is not None and Decimal(live) == summary.realized_pnl,
                }
            )
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    rows = [
        (
            o["symbol"],
            o["fills"],
            o["position"],
            o["avg_cost"],
            o["realized_pnl"],
            o["fees"],
            o["volume"],
            o["redis_realized_pnl"] if o["redis_realized_pnl"] is not None else "-",
            "yes" if o["agrees"] else "NO",
        )
        for o in out
    ]
    headers = ("symbol", "fills", "position", "avg_cost", "realized", "fees", "volume")
    print(table(rows, (*headers, "redis_realized", "agrees")))
    return 0


# Registration -----------------------------------------------------------------------------

COMMON_EPILOG = (
    "Settings come from REDIS_URL / DATABASE_URL, else from a running `make run` "
    "(.data/run/services.json), else the local defaults.\nExit status: 0 done, 1 refused "
    "(nothing changed), 3 a service or the control worker did not answer."
)


def _parser(
    sub: Any, name: str, help_text: str, examples: str, parents: list[argparse.ArgumentParser]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=parents,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=f"examples:\n{examples}\n\n{COMMON_EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def register(sub: Any) -> None:
    """Add the operator commands to the `mmtasks` subcommand parser sub."""
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print the answer as JSON")
    admin = argparse.ArgumentParser(add_help=False, parents=[out])
    admin.add_argument(
        "--timeout",
        type=float,
        default=ANSWER_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the control worker (default {ANSWER_TIMEOUT_S:.0f})",
    )

    p = _parser(
        sub,
        "status",
        "show the fleet and each symbol: state, health, price, position, PnL, worker",
        "  mmtasks status\n  mmtasks status BTCUSDT --json",
        [admin],
    )
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="one symbol (default: all)")
    p.set_defaults(
        run=_admin("status", lambda a: {"symbol": a.symbol} if a.symbol else {}, render_status)
    )

    p = _parser(
        sub,
        "symbols",
        "list the registry's symbols with their configs in brief (--json: whole configs)",
        "  mmtasks symbols\n  mmtasks symbols --removed\n  mmtasks symbols --json",
        [admin],
    )
    p.add_argument("--removed", action="store_true", help="include removed symbols")
    p.set_defaults(
        run=_admin("list_symbols", lambda a: {"include_removed": a.removed}, render_symbols)
    )

    p = _parser(
        sub,
        "add",
        "register a symbol and start trading it",
        "  mmtasks add SOLUSDT --interval 0.5 --order-qty 1\n"
        "  mmtasks add ETHUSDT --interval 1.5 --order-notional 50 --mode neutral --levels 5 \\\n"
        '      --risk \'{"max_position": "2"}\'\n'
        '  mmtasks add ETHUSDT --strategy \'{"interval": "1.5", "order_qty": "0.02"}\'',
        [admin],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--interval", metavar="PRICE", help="grid step, in price units")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--order-qty", metavar="QTY", help="base quantity per order")
    size.add_argument("--order-notional", metavar="QUOTE", help="quote amount per order")
    p.add_argument("--mode", choices=("long", "neutral"), help="grid mode (default long)")
    p.add_argument("--levels", type=int, metavar="N", help="buy and sell levels each")
    p.add_argument("--strategy", type=_json_object, metavar="JSON", help="more strategy keys")
    p.add_argument("--risk", type=_json_object, metavar="JSON", help="risk keys")
    p.add_argument("--exchange", metavar="NAME", help="exchange (default sim)")
    p.add_argument(
        "--consumer", metavar="NODE", help="attach the queue to this running worker (name@host)"
    )
    p.set_defaults(run=_admin("add_symbol", _add_kwargs))

    p = _parser(
        sub,
        "remove",
        "remove a symbol and cancel its orders (refused with a position open unless --force)",
        "  mmtasks remove SOLUSDT\n  mmtasks remove SOLUSDT --force",
        [admin],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--force", action="store_true", help="remove even with a position open")
    p.set_defaults(run=_admin("remove_symbol", lambda a: {"symbol": a.symbol, "force": a.force}))

    for name, task, text in (
        ("pause", "pause_symbol", "pause a symbol: cancel its orders, place nothing"),
        ("resume", "resume_symbol", "resume a paused or ERROR symbol: reconcile, then trade"),
    ):
        p = _parser(sub, name, text, f"  mmtasks {name} ETHUSDT", [admin])
        p.add_argument("symbol", metavar="SYMBOL")
        p.set_defaults(run=_admin(task, lambda a: {"symbol": a.symbol}))

    p = _parser(
        sub,
        "update",
        "merge new strategy and/or risk keys into a symbol's config",
        '  mmtasks update ETHUSDT --strategy \'{"interval": "2"}\'\n'
        '  mmtasks update ETHUSDT --risk \'{"max_position": "3"}\'',
        [admin],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--strategy", type=_json_object, metavar="JSON", help="strategy keys to set")
    p.add_argument("--risk", type=_json_object, metavar="JSON", help="risk keys to set")
    p.set_defaults(run=_admin("update_symbol", _update_kwargs))

    p = _parser(
        sub,
        "halt",
        "halt the whole fleet: every symbol cancels its orders and places nothing",
        "  mmtasks halt --reason 'exchange maintenance'",
        [admin],
    )
    p.add_argument("--reason", required=True, help="why (kept in the audit)")
    p.set_defaults(run=_admin("halt", lambda a: {"reason": a.reason}))

    p = _parser(
        sub,
        "fleet-resume",
        "let the whole fleet trade again (the only way out of HALTED; drawdown measured anew)",
        "  mmtasks fleet-resume --reason 'drawdown reviewed'",
        [admin],
    )
    p.add_argument("--reason", default="resumed by operator", help="why (kept in the audit)")
    p.set_defaults(run=_admin("resume", lambda a: {"reason": a.reason}))

    p = _parser(
        sub,
        "risk",
        "show the fleet state, its risk figures (last risk run) and limits",
        "  mmtasks risk\n  mmtasks risk --json",
        [admin],
    )
    p.set_defaults(run=_admin("fleet_risk", lambda a: {}, render_risk))

    p = _parser(
        sub,
        "risk-set",
        "set fleet risk limits (quote amounts as decimals; 'none' removes a limit)",
        "  mmtasks risk-set max_exposure_quote=50000 max_drawdown_quote=2000\n"
        "  mmtasks risk-set max_connector_latency_ms=800 latency_window_s=30\n"
        "  mmtasks risk-set daily_loss_limit_quote=none",
        [admin],
    )
    p.add_argument("limits", nargs="+", type=parse_limit, metavar="NAME=VALUE")
    p.set_defaults(run=_admin("set_fleet_risk", lambda a: dict(a.limits), render_risk))

    p = _parser(
        sub,
        "alert-test",
        "send a test alert through ALERT_URLS (gathered and rate limited like any alert)",
        "  mmtasks alert-test\n  mmtasks alert-test --message 'hello from mmtasks'",
        [admin],
    )
    p.add_argument("--message", default="test alert from mmtasks", help="the text to send")
    p.set_defaults(run=_admin("test_alert", lambda a: {"message": a.message}))

    p = _parser(
        sub,
        "fills",
        "list a symbol's fills from the Postgres ledger, oldest first",
        "  mmtasks fills BTCUSDT\n"
        "  mmtasks fills BTCUSDT --since 2026-12-01T16:00:00 --limit 20\n"
        "  mmtasks fills BTCUSDT --since 1764604800000 --json",
        [out],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument(
        "--since", type=parse_since, default=0, metavar="TIME", help="ISO time (UTC) or epoch ms"
    )
    p.add_argument("--limit", type=int, default=50, metavar="N", help="newest N (default 50)")
    p.set_defaults(run=cmd_fills)

    p = _parser(
        sub,
        "pnl",
        "recompute each symbol's PnL from the ledger and compare with the live realized PnL",
        "  mmtasks pnl\n  mmtasks pnl BTCUSDT --json",
        [out],
    )
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="one symbol (default: all)")
    p.set_defaults(run=cmd_pnl)
