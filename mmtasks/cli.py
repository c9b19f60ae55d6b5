"""The `mmtasks` command: set up and seed the registry (the fleet itself runs under Celery)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mmtasks import native
from mmtasks.errors import ValidationError

EPILOG = """\
examples:
  mmtasks migrate                      apply pending registry migrations
  mmtasks seed configs/symbols.yaml    add the file's symbols that the registry lacks
  mmtasks replay --help                backtest grid configs over price history
  mmtasks status                       the fleet and each symbol (answer of the control worker)
  mmtasks add SOLUSDT --interval 0.5 --order-qty 1
  mmtasks fills BTCUSDT --since 2026-12-01T16:00:00
  mmtasks pnl                          ledger PnL per symbol beside the live one

DATABASE_URL names the Postgres database (default postgresql://postgres@127.0.0.1:5432/postgres).
Day-to-day changes go through the admin tasks: `mmtasks <command> --help`, or
  celery -A mmtasks call mmtasks.admin.list_symbols
"""


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    from mmtasks.settings import get_settings

    return get_settings().database_url


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations and say which."""
    from mmtasks.registry.migrate import migrate

    applied = migrate(_database_url(args))
    print(f"applied {', '.join(applied)}" if applied else "registry schema is up to date")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    """Insert the file's symbols that are missing from the registry; report what happened."""
    import psycopg

    from mmtasks.registry.migrate import migrate
    from mmtasks.registry.seed import load_seed_file, seed

    rows = load_seed_file(Path(args.file))
    url = _database_url(args)
    migrate(url)
    with psycopg.connect(url) as conn:
        report = seed(conn, rows)
    for symbol in report.inserted:
        print(f"inserted {symbol}")
    for symbol in report.existing:
        print(f"left alone {symbol} (already in the registry)")
    print(f"{len(report.inserted)} inserted, {len(report.existing)} already present")
    if report.inserted:
        print(
            "a running fleet starts them within seconds (beat's healer initialises registry "
            "symbols Redis does not know; `make run` also starts their workers); to start them "
            "at once: celery -A mmtasks call mmtasks.admin.rehydrate"
        )
    return 0


def cmd_queues(args: argparse.Namespace) -> int:
    """Print the queues one worker process consumes (mmtasks/assign.py), comma-separated."""
    import psycopg

    from mmtasks.assign import bucket_of, idle_queue, queues_of
    from mmtasks.registry.store import RegistryStatus, list_symbols

    bucket, of = args.bucket
    with psycopg.connect(_database_url(args), connect_timeout=5) as conn:
        records = list_symbols(conn, [RegistryStatus.ACTIVE, RegistryStatus.PAUSED])
    symbols = [r.symbol for r in records]
    if args.list:
        for symbol in sorted(symbols, key=lambda s: (bucket_of(s, of), s)):
            print(f"{symbol}\tworker {bucket_of(symbol, of)} of {of}")
        return 0
    print(",".join(queues_of(symbols, bucket, of)) or idle_queue(bucket))
    return 0


def _bucket(text: str) -> tuple[int, int]:
    b, _, n = text.partition("/")
    if not (b.isdigit() and n.isdigit() and 0 <= int(b) < int(n)):
        raise argparse.ArgumentTypeError(
            f"expected B/N with 0 <= B < N (worker B of N), received {text!r}"
        )
    return int(b), int(n)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `mmtasks` command."""
    parser = argparse.ArgumentParser(
        prog="mmtasks",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url", metavar="URL", help="Postgres URL (default: $DATABASE_URL)"
    )

    def command(
        name: str, run: Callable[[argparse.Namespace], int], help_: str, text: str
    ) -> argparse.ArgumentParser:
        # The registry's commands: each takes --database-url.
        registry_command = sub.add_parser(name, parents=[common], help=help_, description=text)
        registry_command.set_defaults(run=run)
        return registry_command

    command(
        "migrate",
        cmd_migrate,
        "apply pending registry migrations",
        "Apply the registry's pending SQL migrations, in order, once each (safe to run any "
        "number of times).",
    )
    seed = command(
        "seed",
        cmd_seed,
        "seed the registry from a YAML file",
        "Insert the file's symbols that the registry lacks; rows already there are left alone. "
        "Migrates first.",
    )
    seed.add_argument("file", metavar="FILE", help="YAML like configs/symbols.yaml")
    queues = command(
        "queues",
        cmd_queues,
        "the symbol queues one worker process consumes",
        "Print, comma-separated, the queues of the registry's symbols that worker B of N "
        "consumes (a stable hash of each symbol's name: adding a symbol moves no other), for "
        "`celery -A mmtasks worker -P threads -c 8 -n symbolsB@%h -Q $(mmtasks queues B/N)`. "
        "With no symbol for B, a placeholder queue, so the worker can start.",
    )
    queues.add_argument("bucket", metavar="B/N", type=_bucket, help="worker B of N, from 0")
    queues.add_argument(
        "--list", action="store_true", help="list every symbol with its worker instead"
    )
    from mmtasks.audit.cli import register as register_audit
    from mmtasks.ops.parser import register as register_ops
    from mmtasks.replay.cli import register as register_replay

    register_replay(sub)
    register_ops(sub)
    register_audit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `mmtasks` command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:
        # A backtest needs none of what the other commands import (psycopg, redis, the
        # settings, the operator's and the audit's parsers): its own parser alone starts the
        # replay about half a second sooner. The same parser as `register` adds below.
        native.use_compiled()  # before the core is imported (mmtasks/native.py)
        from mmtasks.replay.cli import main as replay_main

        return replay_main(argv[1:])
    import psycopg

    from mmtasks.ops.transport import EXIT_UNREACHABLE, Unreachable

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ValidationError as exc:
        print(f"mmtasks {args.command}: {exc}", file=sys.stderr)
        return 2
    except Unreachable as exc:
        print(f"mmtasks {args.command}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except psycopg.Error as exc:
        print(f"mmtasks {args.command}: database error: {exc}".rstrip(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
