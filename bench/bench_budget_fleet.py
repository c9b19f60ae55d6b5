"""The fleet-wide rate budget at scale: 64 symbols on two connector replicas of one account.

    python bench/bench_budget_fleet.py [--symbols 64] [--seconds 60] [--weight 1200]
                                       [--orders-per-10s 50] [--workers 8] [--ban-s 10]

The Binance-speaking simulator enforces --weight per minute and --orders-per-10s (429 with
Retry-After past them, 418 for a client that keeps going); two `--venue binanceusdm`
connectors share the key and the Redis budget; workers are split between them. For --seconds,
every symbol is moved through several grid levels at once every 5 s. Then: every grid must end
up placed; the simulator bans the IP for --ban-s while the market trades through resting
orders; trading must resume by itself and every fill reach the ledger once.
Prints the figures (429s, 418s, weight per minute, orders placed, budget waits and refusals,
time to settle) and exits 1 if the venue ever answered 429 or a fill is missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reserved import machine, reserved_services  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--weight", type=int, default=1200, help="weight per minute (1200)")
    parser.add_argument("--orders-per-10s", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--ban-s", type=int, default=10)
    args = parser.parse_args()

    from mmtasks.budget import budget_status
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for
    from tests.integration.conftest import ledger_rows
    from tests.kit.budget_fleet import budget_fleet
    from tests.kit.poll import eventually

    services, redis_url, admin, lock = reserved_services()  # a flushed database
    use_services(app, settings_for(redis_url, services.database_url))
    print(
        f"budget fleet: {args.symbols} symbols, 2 connector replicas, {args.workers} workers; "
        f"venue limits {args.weight} weight/min, {args.orders_per_10s} orders/10s "
        f"({machine()})",
        flush=True,
    )
    failed = False
    try:
        with budget_fleet(
            args.symbols,
            redis_url,
            services.database_url,
            weight_per_minute=args.weight,
            orders_per_10s=args.orders_per_10s,
            workers=args.workers,
        ) as fleet:
            fleet.move_all(Decimal(100))
            took = fleet.settle(timeout_s=900)
            print(f"  every grid placed at 100 in {took:.1f}s", flush=True)
            started, moves = time.monotonic(), 0
            prices = ["103", "99", "104", "98", "102", "100"]
            while time.monotonic() - started < args.seconds:
                fleet.move_all(Decimal(prices[moves % len(prices)]))
                moves += 1
                time.sleep(5)
            took = fleet.settle(timeout_s=900)
            stats = fleet.stats()
            per_minute = [m["max"] for m in stats["weight_by_minute"]]
            orders = stats["requests_by_path"].get("POST /fapi/v1/order", 0)
            print(f"  {moves} moves of every symbol in {args.seconds}s; settled {took:.1f}s after")
            print(
                f"  orders sent {orders}; venue answered 429: {stats['answered_429']}, "
                f"418: {stats['answered_418']}"
            )
            print(f"  weight used per minute (max over IPs): {per_minute} (limit {args.weight})")
            venue = budget_status(fleet.redis)["binanceusdm"]["stats"]
            print(
                f"  budget: draws {venue.get('draws', 0)}, waited {venue.get('waits', 0)} "
                f"(total {venue.get('wait_ms_sum', 0) / 1000:.1f}s), refused "
                f"{venue.get('denied', 0)}",
                flush=True,
            )
            failed |= stats["answered_429"] > 0 or max(per_minute) > args.weight

            before = stats["answered_418"]
            fleet.control.ban(args.ban_s)
            fleet.move_all(Decimal(97))
            took = fleet.settle(timeout_s=900)
            after = fleet.stats()
            venue_ids = sorted(str(t["id"]) for t in fleet.control._http.get("/_sim/trades").json())

            wanted = set(venue_ids)

            def ledger_ids() -> list[str]:  # this run's fills (the ledger may hold older runs')
                return sorted(
                    str(r[0])
                    for s in fleet.symbols
                    for r in ledger_rows(services.database_url, s)
                    if str(r[0]) in wanted
                )

            try:
                eventually(lambda: ledger_ids() == venue_ids, timeout_s=120)
                ledger_ok = True
            except AssertionError:
                ledger_ok = False
                got = ledger_ids()
                print(
                    f"  missing from the ledger: {sorted(wanted - set(got))[:10]}; "
                    f"twice: {sorted({i for i in got if got.count(i) > 1})[:10]}"
                )
            print(
                f"  ban {args.ban_s}s: requests that reached the banned venue "
                f"{after['answered_418'] - before}; trading again, every grid placed, "
                f"{took:.1f}s after the ban began; fills {len(venue_ids)}, ledger "
                f"{'equal, each once' if ledger_ok else 'DIFFERS'}",
                flush=True,
            )
            failed |= not ledger_ok
    finally:
        admin.delete(lock)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
