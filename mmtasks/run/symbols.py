"""The fleet's symbols: the config file (and `--symbols N`), the registry seed, each init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
import yaml

from mmtasks.domain import parse_symbol
from mmtasks.run.defaults import EXTRA_BASES, EXTRA_ENTRY, MAX_SYMBOLS, WORKING_STATUSES
from mmtasks.settings import Settings


def load_config(path: Path, only: str) -> dict[str, dict[str, Any]]:
    """Return {symbol: entry} from the symbols file, restricted to `only` when given."""
    entries = (yaml.safe_load(path.read_text()) or {}).get("symbols") or {}
    config: dict[str, dict[str, Any]] = {
        parse_symbol(name): dict(entry or {}) for name, entry in entries.items()
    }
    if only.strip().isdigit():
        return with_count(config, int(only))
    if only:
        wanted = [parse_symbol(s) for s in only.split(",") if s.strip()]
        missing = [s for s in wanted if s not in config]
        if missing:
            raise SystemExit(
                f"{path} has no entry for {', '.join(missing)}; "
                f"it lists {', '.join(config) or 'nothing'}"
            )
        config = {s: config[s] for s in wanted}
    if not config:
        raise SystemExit(f"{path} lists no symbols")
    return config


def with_count(config: dict[str, dict[str, Any]], count: int) -> dict[str, dict[str, Any]]:
    """Return the config's first `count` symbols, plus generated ones when it has fewer:
    EXTRA_BASES in USDT first (SOLUSDT, BNBUSDT, ...), then numbered ones (X001USDT, ...)."""
    if not 1 <= count <= MAX_SYMBOLS:
        raise SystemExit(f"--symbols {count}: expected 1 to {MAX_SYMBOLS} symbols")
    chosen = {name: config[name] for name in list(config)[:count]}
    for name in generated(count - len(chosen), set(config)):
        chosen[name] = EXTRA_ENTRY
    return chosen


def generated(n: int, taken: set[str]) -> list[str]:
    """Return n simulated symbol names not in taken."""
    names = [f"{base}USDT" for base in EXTRA_BASES] + [
        f"X{i:03d}USDT" for i in range(1, MAX_SYMBOLS + 1)
    ]
    return [name for name in names if name not in taken][: max(0, n)]


def catalogue(symbols: list[str]) -> list[str]:
    """Return the symbols the simulated exchange lists: the fleet's, then EXTRA_BASES in USDT."""
    extra = [f"{base}USDT" for base in EXTRA_BASES]
    return symbols + [s for s in extra if s not in symbols]


def seed_registry(database_url: str, config: dict[str, dict[str, Any]]) -> list[str]:
    """Insert the run's symbols into the registry when missing (admin tasks act on rows);
    return those inserted. A symbol the registry holds already keeps its row as it is (paused,
    updated, removed): the config file seeds a new data folder, it does not overrule the
    registry of an earlier run."""
    import psycopg

    from mmtasks.registry.seed import parse_seed, seed

    rows = parse_seed({"symbols": config}, "the run's symbols")
    with psycopg.connect(database_url) as conn:
        report = seed(conn, rows)
    if report.existing:
        shown = ", ".join(report.existing[:8]) + (" ..." if len(report.existing) > 8 else "")
        print(
            f"registry {len(report.existing)} symbol(s) of the config already registered, kept "
            f"as they are ({shown}): change one with `mmtasks update SYMBOL --strategy '{{...}}'`",
            flush=True,
        )
    return report.inserted


def registry_symbols(database_url: str) -> tuple[set[str], set[str]] | None:
    """Return (symbols to trade, symbols removed) from the registry; None when it is down."""
    import psycopg

    from mmtasks.registry.store import list_symbols

    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            records = list_symbols(conn)
    except psycopg.Error:
        return None
    working = {r.symbol for r in records if r.status in WORKING_STATUSES}
    return working, {r.symbol for r in records} - working


def out_of_fleet(client: redis.Redis, symbols: set[str]) -> set[str]:
    """Return the symbols no longer in the fleet set: removed, their orders all cancelled (a
    removed symbol's worker takes it out of `mm:symbols` only then, trading/step.py)."""
    from mmtasks.state.record import in_fleet_set

    return symbols - in_fleet_set(client, symbols)


def init_symbols(settings: Settings, config: dict[str, dict[str, Any]]) -> None:
    """Send each symbol of config its `init` (configs checked against the exchange's rules):
    the symbols this run registered (`seed_registry`); the others trade as the registry says."""
    from mmtasks.celery import make_app
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.registry.symbol_commands import init_symbol

    app = make_app(settings)  # broker and result backend both from the resolved settings
    client = redis.Redis.from_url(settings.redis_url)
    with ExchangeClient(
        settings.connector_addr, settings.connector_token, tls_ca=settings.connector_tls_ca
    ) as exchange:
        exchange.wait_ready(30)
        for symbol, entry in config.items():
            init_symbol(
                client,
                app,
                exchange,
                symbol,
                entry.get("strategy") or {},
                entry.get("risk") or {},
                issued_by="mmtasks.run",
            )
    client.close()
