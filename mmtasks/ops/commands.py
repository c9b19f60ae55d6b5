"""From arguments to calls: admin requests through the control worker, ledger reads."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from mmtasks.ops.render import render_answer, table
from mmtasks.ops.transport import EXIT_REFUSED, call_admin, check_redis, connect_postgres
from mmtasks.settings import get_settings


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, received {text!r}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, received {text!r}")
    return value


def admin_command(
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


def add_kwargs(args: argparse.Namespace) -> dict[str, Any]:
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


def update_kwargs(args: argparse.Namespace) -> dict[str, Any]:
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
