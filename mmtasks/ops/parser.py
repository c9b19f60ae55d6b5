"""The operator subcommands of `mmtasks`, with their help, examples and exit codes."""

from __future__ import annotations

import argparse
from typing import Any

from mmtasks.ops.commands import (
    add_kwargs,
    admin_command,
    cmd_fills,
    cmd_pnl,
    json_object,
    parse_limit,
    parse_since,
    update_kwargs,
)
from mmtasks.ops.render import render_risk, render_status, render_symbols
from mmtasks.ops.transport import ANSWER_TIMEOUT_S

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
    _symbol_commands(sub, admin)
    _fleet_commands(sub, admin)
    _ledger_commands(sub, out)


def _symbol_commands(sub: Any, admin: argparse.ArgumentParser) -> None:
    """status, symbols, add, remove, pause, resume, update: through the control worker."""
    p = _parser(
        sub,
        "status",
        "show the fleet and each symbol: state, health, price, position, PnL, worker",
        "  mmtasks status\n  mmtasks status BTCUSDT --json",
        [admin],
    )
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="one symbol (default: all)")
    p.set_defaults(
        run=admin_command(
            "status", lambda a: {"symbol": a.symbol} if a.symbol else {}, render_status
        )
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
        run=admin_command("list_symbols", lambda a: {"include_removed": a.removed}, render_symbols)
    )

    _add_command(sub, admin)

    p = _parser(
        sub,
        "remove",
        "remove a symbol and cancel its orders (refused with a position open unless --force)",
        "  mmtasks remove SOLUSDT\n  mmtasks remove SOLUSDT --force",
        [admin],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--force", action="store_true", help="remove even with a position open")
    p.set_defaults(
        run=admin_command("remove_symbol", lambda a: {"symbol": a.symbol, "force": a.force})
    )

    for name, task, text in (
        ("pause", "pause_symbol", "pause a symbol: cancel its orders, place nothing"),
        ("resume", "resume_symbol", "resume a paused or ERROR symbol: reconcile, then trade"),
    ):
        p = _parser(sub, name, text, f"  mmtasks {name} ETHUSDT", [admin])
        p.add_argument("symbol", metavar="SYMBOL")
        p.set_defaults(run=admin_command(task, lambda a: {"symbol": a.symbol}))

    p = _parser(
        sub,
        "update",
        "merge new strategy and/or risk keys into a symbol's config",
        '  mmtasks update ETHUSDT --strategy \'{"interval": "2"}\'\n'
        '  mmtasks update ETHUSDT --risk \'{"max_position": "3"}\'',
        [admin],
    )
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--strategy", type=json_object, metavar="JSON", help="strategy keys to set")
    p.add_argument("--risk", type=json_object, metavar="JSON", help="risk keys to set")
    p.set_defaults(run=admin_command("update_symbol", update_kwargs))


def _add_command(sub: Any, admin: argparse.ArgumentParser) -> None:
    """add: register a symbol with its strategy (flags or JSON) and risk."""
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
    p.add_argument("--strategy", type=json_object, metavar="JSON", help="more strategy keys")
    p.add_argument("--risk", type=json_object, metavar="JSON", help="risk keys")
    p.add_argument("--exchange", metavar="NAME", help="exchange (default sim)")
    p.add_argument(
        "--consumer", metavar="NODE", help="attach the queue to this running worker (name@host)"
    )
    p.set_defaults(run=admin_command("add_symbol", add_kwargs))


def _fleet_commands(sub: Any, admin: argparse.ArgumentParser) -> None:
    """halt, fleet-resume, risk, risk-set, alert-test: the whole fleet."""
    p = _parser(
        sub,
        "halt",
        "halt the whole fleet: every symbol cancels its orders and places nothing",
        "  mmtasks halt --reason 'exchange maintenance'",
        [admin],
    )
    p.add_argument("--reason", required=True, help="why (kept in the audit)")
    p.set_defaults(run=admin_command("halt", lambda a: {"reason": a.reason}))

    p = _parser(
        sub,
        "fleet-resume",
        "let the whole fleet trade again (the only way out of HALTED; drawdown measured anew)",
        "  mmtasks fleet-resume --reason 'drawdown reviewed'",
        [admin],
    )
    p.add_argument("--reason", default="resumed by operator", help="why (kept in the audit)")
    p.set_defaults(run=admin_command("resume", lambda a: {"reason": a.reason}))

    p = _parser(
        sub,
        "risk",
        "show the fleet state, its risk figures (last risk run) and limits",
        "  mmtasks risk\n  mmtasks risk --json",
        [admin],
    )
    p.set_defaults(run=admin_command("fleet_risk", lambda a: {}, render_risk))

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
    p.set_defaults(run=admin_command("set_fleet_risk", lambda a: dict(a.limits), render_risk))

    p = _parser(
        sub,
        "alert-test",
        "send a test alert through ALERT_URLS (gathered and rate limited like any alert)",
        "  mmtasks alert-test\n  mmtasks alert-test --message 'hello from mmtasks'",
        [admin],
    )
    p.add_argument("--message", default="test alert from mmtasks", help="the text to send")
    p.set_defaults(run=admin_command("test_alert", lambda a: {"message": a.message}))


def _ledger_commands(sub: Any, out: argparse.ArgumentParser) -> None:
    """fills and pnl: read from the Postgres ledger directly."""
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
