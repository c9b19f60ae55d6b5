"""`mmtasks audit`: do the exchange, Redis and the ledger tell one story, symbol by symbol?

The operator's form of the checker the chaos suite runs after every fault
(`mmtasks.audit.invariants`): for each symbol it asks the symbol's connector for its trades,
open orders and position, reads the symbol's state in Redis and its fills in the Postgres
ledger, and names every disagreement by symbol and id (a trade the ledger lacks, a ledger fill
the exchange does not have, a position or PnL that differs, an order no slot holds...).
Exit status: 0 every symbol agrees, 1 some disagree, 3 a service did not answer.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections import defaultdict
from typing import Any

from mmtasks.audit.invariants import check
from mmtasks.audit.model import SymbolReport
from mmtasks.audit.settle import wait_settled
from mmtasks.connector.client import ExchangeClient
from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.ops.render import table
from mmtasks.ops.transport import Unreachable, check_redis, connect_postgres
from mmtasks.registry import store
from mmtasks.settings import Settings, get_settings

EXAMPLES = (
    "  mmtasks audit                  # every symbol of the registry that is not removed\n"
    "  mmtasks audit BTCUSDT --json\n"
    "  mmtasks audit --settle 30      # first wait (up to 30 s) for orders in flight to settle"
)


def register(sub: Any) -> None:
    """Add `mmtasks audit` to the `mmtasks` subcommand parser sub."""
    p = sub.add_parser(
        "audit",
        help="check that the exchange, Redis and the ledger agree, symbol by symbol",
        description=textwrap.fill((__doc__ or "").split("\n\n")[1].replace("\n", " "), 88),
        epilog=f"examples:\n{EXAMPLES}\n\nExit status: 0 all agree, 1 some disagree, "
        "3 a service did not answer.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbols", nargs="*", metavar="SYMBOL", help="default: the registry's symbols")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a quiet fleet first (nothing in flight); a fleet that "
        "trades while it is read may show an order between venue and Redis",
    )
    p.set_defaults(run=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    """Audit the symbols; print one line per symbol (and each disagreement); 1 if any."""
    settings = get_settings()
    client = check_redis(settings)
    with connect_postgres(settings) as conn:
        records = {r.symbol: r for r in store.list_symbols(conn)}
        symbols = _symbols(args.symbols, records)
        by_connector: dict[str, list[str]] = defaultdict(list)
        for symbol in symbols:
            by_connector[settings.connector_for(records[symbol].exchange)].append(symbol)
        reports: list[SymbolReport] = []
        for addr, group in sorted(by_connector.items()):
            reports += _audit(settings, addr, client, conn, group, args.settle)
    if args.json:
        print(json.dumps([_as_json(r) for r in reports], indent=2, default=str))
    else:
        print(_render(reports))
    return 0 if all(r.ok for r in reports) else 1


def _symbols(asked: list[str], records: dict[str, store.SymbolRecord]) -> list[str]:
    if not asked:
        return [s for s, r in records.items() if r.status != store.RegistryStatus.REMOVED]
    symbols = [str(parse_symbol(s.upper())) for s in asked]
    unknown = [s for s in symbols if s not in records]
    if unknown:
        known = ", ".join(records) or "none"
        raise ValidationError(f"not in the registry: {', '.join(unknown)} (registry: {known})")
    return symbols


def _audit(
    settings: Settings, addr: str, client: Any, conn: Any, symbols: list[str], settle_s: float
) -> list[SymbolReport]:
    exchange = ExchangeClient(
        addr,
        token=settings.connector_token,
        timeout_s=settings.connector_timeout_s,
        tls_ca=settings.connector_tls_ca,
    )
    try:
        if settle_s > 0:
            settled = wait_settled(client, symbols, exchange=exchange, timeout_s=settle_s)
            if not settled.settled:
                print(f"not settled after {settle_s:g}s: {settled.unsettled}; auditing anyway")
        return check(exchange, client, conn, symbols)
    except Exception as exc:
        if "UNAVAILABLE" in str(exc) or "DEADLINE" in str(exc):
            raise Unreachable(
                f"the connector at {addr} does not answer ({exc.__class__.__name__}): start it "
                "(`make run`), or point CONNECTOR_ADDR / MMTASKS_VENUES at it"
            ) from exc
        raise
    finally:
        exchange.close()


def _render(reports: list[SymbolReport]) -> str:
    rows = [
        (r.symbol, "agrees" if r.ok else f"{len(r.problems())} disagreement(s)", r.events_note)
        for r in reports
    ]
    lines = [table(rows, ("symbol", "exchange / Redis / ledger", "events"))]
    lines += [f"  {line}" for r in reports for line in r.problems()]
    bad = sum(1 for r in reports if not r.ok)
    lines.append(
        f"{len(reports)} symbol(s) audited: "
        + ("all agree" if not bad else f"{bad} disagree (each line above names what and where)")
    )
    return "\n".join(lines)


def _as_json(report: SymbolReport) -> dict[str, Any]:
    return {"symbol": report.symbol, "ok": report.ok, "problems": report.problems()}
