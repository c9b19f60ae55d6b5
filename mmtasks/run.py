"""`python -m mmtasks.run`: the whole fleet on the simulated exchange, with a live status table.

Starts (in order) Redis and Postgres (embedded under .data/run when REDIS_URL / DATABASE_URL
are unset), the registry migrations and seed, the simulated connector on a random walk, one
Celery worker per symbol, the control worker, beat and the bridge, then sends each symbol its
`init`. Every child runs in its own process group with its log under .data/run/logs/;
Ctrl-C, SIGTERM or the end of --seconds stops them all (SIGTERM, then SIGKILL for stragglers).

Every URL the runner and its children use comes from one `Settings`, resolved once here and
passed down: to children as explicit environment variables, to this process's Celery app by
`make_app(settings)`, and to other commands (`celery -A mmtasks call ...`, `mmtasks ...`) through
the services file `<data-dir>/services.json`, removed again on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml

from mmtasks.domain import parse_symbol
from mmtasks.settings import DEFAULT_SERVICES_FILE, Settings, get_settings, write_services_file

DATA_DIR = Path(".data/run")
DEFAULT_CONFIG = Path("configs/symbols.yaml")
STATUS_EVERY_S = 2.0
STOP_GRACE_S = 15.0
DEFAULT_WEB_PORT = 8000
REMOVE_GRACE_S = 20.0
CELERY = (sys.executable, "-m", "celery", "-A", "mmtasks")
WORKING_STATUSES = ("ACTIVE", "PAUSED", "ERROR")  # ERROR still drains fills and recovers
# Extra simulated symbols for `--symbols N` beyond the config's: generic sim rules (tick 0.01,
# step 0.001, start price 100) and a small neutral grid that fits them.
EXTRA_BASES = (
    "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC", "TRX", "ATOM", "NEAR",
    "UNI", "ETC", "FIL", "APT", "ARB", "OP", "INJ", "SUI", "SEI", "TIA", "AAVE", "MKR",
)  # fmt: skip
EXTRA_ENTRY: dict[str, Any] = {
    "exchange": "sim",
    "strategy": {
        "mode": "neutral",
        "interval": "0.2",
        "buy_levels": 4,
        "sell_levels": 4,
        "order_notional": "10",
    },
    "risk": {"max_position": "1", "max_open_orders": 10, "stale_after_s": 30},
}


@dataclass
class Child:
    """A child process of the runner, alone in its process group."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


class Fleet:
    """Start children and stop them all, whatever happens."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, *cmd: str) -> Child:
        """Start cmd as child `name` in a new process group, logging to logs/<name>.log."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            # A new session: the terminal's Ctrl-C reaches the runner only, which then stops
            # children in order (bridge first, so it can flush) instead of all at once.
            proc = subprocess.Popen(
                list(cmd),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def stop(self) -> None:
        """SIGTERM every child group (last started first), then SIGKILL what is left."""
        for child in reversed(self.children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{child.name} did not stop in time: killing it", file=sys.stderr)
        for child in self.children:
            _signal_group(child, signal.SIGKILL)  # stragglers, pool children included
            child.proc.wait()

    def stop_child(self, child: Child) -> None:
        """Stop one child (SIGTERM, then SIGKILL after the grace period) and forget it."""
        _signal_group(child, signal.SIGTERM)
        try:
            child.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop in time: killing it", file=sys.stderr)
        _signal_group(child, signal.SIGKILL)
        child.proc.wait()
        self.children.remove(child)

    def failed(self) -> Child | None:
        """Return a child that exited on its own, if any."""
        return next((c for c in self.children if not c.alive()), None)


class Workers:
    """One worker per symbol the registry wants traded, following the registry as it changes.

    A symbol added while the fleet runs (`mmtasks add`, `add_symbol`) gets a worker on the next
    sync; a removed one keeps its worker until it has cancelled its orders (its Redis status says
    REMOVED) or REMOVE_GRACE_S has passed, then the worker is stopped.
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.by_symbol: dict[str, Child] = {}
        self.removing: dict[str, float] = {}

    @property
    def symbols(self) -> list[str]:
        return sorted(self.by_symbol)

    def start(self, symbol: str) -> None:
        queue = symbol.lower()
        self.by_symbol[symbol] = self.fleet.spawn(
            f"worker-{queue}",
            *CELERY,
            "worker",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "-c",
            "1",
            "--loglevel",
            "INFO",
        )
        self.removing.pop(symbol, None)

    def sync(self, wanted: set[str], done: set[str]) -> list[str]:
        """Start workers for new symbols, stop those of removed ones; return what changed."""
        changes = []
        for symbol in sorted(wanted - set(self.by_symbol)):
            self.start(symbol)
            changes.append(f"started worker for {symbol}")
        now = time.monotonic()
        for symbol in sorted(set(self.by_symbol) - wanted):
            since = self.removing.setdefault(symbol, now)
            if symbol in done or now - since >= REMOVE_GRACE_S:
                self.fleet.stop_child(self.by_symbol.pop(symbol))
                self.removing.pop(symbol, None)
                changes.append(f"stopped worker for {symbol} (removed)")
        for symbol in set(self.removing) & wanted:
            del self.removing[symbol]  # re-added before its worker stopped
        return changes


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(child.proc.pid, sig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m mmtasks.run",
        description="Run the whole fleet on the simulated exchange (connector, bridge, one "
        "worker per symbol, control worker, beat) and print a status table. Uses REDIS_URL "
        "and DATABASE_URL when set, else embedded servers under .data/run. Ctrl-C stops it.",
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="symbols YAML (default %(default)s)"
    )
    parser.add_argument(
        "--symbols",
        default="",
        help="comma-separated subset of the config's symbols, or a number N: the config's "
        "first N, plus generated simulated ones (SOLUSDT, BNBUSDT, ...) beyond them "
        "(default: all of the config's)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help="embedded servers, logs and the beat schedule (default %(default)s)",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=None,
        help=f"dashboard port on 127.0.0.1 (default {DEFAULT_WEB_PORT}, or a free one when "
        f"{DEFAULT_WEB_PORT} is taken; 0 for any free port)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="also record every symbol's ticks and klines under <data-dir>/recordings, for "
        "`mmtasks replay --recording <data-dir>/recordings --symbol BTCUSDT --fill touch`",
    )
    parser.add_argument(
        "--tick-ms",
        type=int,
        default=200,
        help="random-walk feed period in ms (default %(default)s)",
    )
    parser.add_argument(
        "--venue",
        choices=("binanceusdm", "binance"),
        help="trade through the real-venue connector (ccxt) against the Binance-speaking "
        "simulator instead of the gRPC simulator: binanceusdm (perpetuals) or binance "
        "(spot: long grids only); the fleet-wide rate budget is on",
    )
    return parser.parse_args(argv)


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
    """Return the config's first `count` symbols, plus generated ones when it has fewer."""
    limit = len(config) + len(EXTRA_BASES)
    if not 1 <= count <= limit:
        raise SystemExit(f"--symbols {count}: expected 1 to {limit} symbols")
    names = list(config)[:count]
    extra = [f"{base}USDT" for base in EXTRA_BASES if f"{base}USDT" not in config]
    chosen = {name: config[name] for name in names}
    for name in extra[: count - len(chosen)]:
        chosen[name] = EXTRA_ENTRY
    return chosen


def catalogue(symbols: list[str]) -> list[str]:
    """Return the symbols the simulated exchange lists: the fleet's, then EXTRA_BASES in USDT."""
    extra = [f"{base}USDT" for base in EXTRA_BASES]
    return symbols + [s for s in extra if s not in symbols]


def seed_registry(database_url: str, config: dict[str, dict[str, Any]]) -> None:
    """Insert the run's symbols into the registry when missing (admin tasks act on rows)."""
    import psycopg

    from mmtasks.registry.seed import parse_seed, seed

    rows = parse_seed({"symbols": config}, "the run's symbols")
    with psycopg.connect(database_url) as conn:
        seed(conn, rows)


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


def removed_in_redis(client: redis.Redis, symbols: set[str]) -> set[str]:
    """Return the symbols whose worker has processed their removal."""
    from mmtasks.state.keys import keys_for

    return {
        s for s in symbols if client.hget(keys_for(s).state, "status") in ("REMOVED", b"REMOVED")
    }


def start_connector(
    fleet: Fleet, symbols: list[str], tick_ms: int, data_dir: Path, venue: str | None = None
) -> str:
    """Start the connector on a free port; return its address once it serves.

    venue None: the gRPC simulator. Else the Binance-speaking simulator on a free port, and the
    real-venue connector (ccxt) on it, with the simulator's keys.
    """
    feed = ("--feed", "random", "--tick-ms", str(tick_ms), "--symbols", ",".join(symbols))
    if venue is None:
        backend: tuple[str, ...] = ("--sim", *feed)
    else:
        sim_port = _spawn_and_wait(
            fleet, "binance-sim", data_dir, ("-m", "mmtasks.sim.binance", *feed)
        )
        base = f"http://127.0.0.1:{sim_port}"
        print(f"binance  {base} (the Binance-speaking simulator)", flush=True)
        fleet.env.setdefault("MMTASKS_VENUE_API_KEY", "mmtasks-sim-key")
        fleet.env.setdefault("MMTASKS_VENUE_API_SECRET", "mmtasks-sim-secret")
        backend = ("--venue", venue, "--base-url", base, "--symbols", ",".join(symbols))
    port = _spawn_and_wait(fleet, "connector", data_dir, ("-m", "mmtasks.connector", *backend))
    return f"127.0.0.1:{port}"


def _spawn_and_wait(fleet: Fleet, name: str, data_dir: Path, args: tuple[str, ...]) -> str:
    """Start `python ARGS --port 0 --port-file F`; return the port once it is written."""
    port_file = data_dir / f"{name}.port"
    port_file.unlink(missing_ok=True)
    child = fleet.spawn(name, sys.executable, *args, "--port", "0", "--port-file", str(port_file))
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if not child.alive() or time.monotonic() > deadline:
            raise SystemExit(f"the {name} did not start; see {child.log_path}")
        time.sleep(0.05)
    return port_file.read_text().strip()


def start_fleet(fleet: Fleet, workers: Workers, symbols: list[str], data_dir: Path) -> None:
    """Start one worker per symbol, the control worker, beat and the bridge.

    The bridge reads the registry (and its NOTIFY channel), so it streams a symbol added later.
    """
    for symbol in symbols:
        workers.start(symbol)
    fleet.spawn(
        "control",
        *CELERY,
        "worker",
        "-Q",
        "control",
        "-n",
        "control@%h",
        "-c",
        "2",
        "--loglevel",
        "INFO",
    )
    fleet.spawn(
        "beat", *CELERY, "beat", "--loglevel", "INFO", "-s", str(data_dir / "celerybeat-schedule")
    )
    fleet.spawn("bridge", sys.executable, "-m", "bridge")


def web_port(asked: int | None) -> int:
    """Return the dashboard's port: the one asked for (0: any), else 8000 unless it is taken.

    A port asked for explicitly and taken is refused here, before anything starts, rather than
    by the web process dying a second later and taking the fleet with it.
    """
    from mmtasks.embedded import free_port

    if asked == 0:
        return free_port()
    port = DEFAULT_WEB_PORT if asked is None else asked
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
    if asked is not None:
        raise SystemExit(
            f"--web-port {port}: the port is taken; pick another, or 0 for any free one"
        )
    fallback = free_port()
    print(f"port {port} is taken: the dashboard uses {fallback}", flush=True)
    return fallback


def start_web(fleet: Fleet, port: int) -> tuple[str, str]:
    """Start the read-only web process and Flower on loopback; return their URLs."""
    from mmtasks.embedded import free_port

    fleet.spawn(
        "web", sys.executable, "-m", "mmtasks.web", "--host", "127.0.0.1", "--port", str(port)
    )
    flower_port = free_port()
    fleet.spawn(
        "flower",
        sys.executable,
        "-m",
        "celery",
        "-A",
        "mmtasks",
        "flower",
        "--address=127.0.0.1",
        f"--port={flower_port}",
    )
    return f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{flower_port}/"


def init_symbols(settings: Settings, config: dict[str, dict[str, Any]]) -> None:
    """Send every symbol its `init` (configs checked against the exchange's rules)."""
    from mmtasks.celery import make_app
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.registry.symbol_commands import init_symbol

    app = make_app(settings)  # broker and result backend both from the resolved settings
    client = redis.Redis.from_url(settings.redis_url)
    with ExchangeClient(settings.connector_addr) as exchange:
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


COLUMNS = [
    "symbol",
    "status",
    "price",
    "position",
    "exposure",
    "orders",
    "fills",
    "realized",
    "unrealized",
    "fees",
]


def status_rows(client: redis.Redis, symbols: list[str], fills: dict[str, int]) -> list[list[str]]:
    """Return one status row per symbol, rounded to the symbol's tick and step."""
    from mmtasks.grid.models import SlotStatus
    from mmtasks.trading.snapshot import load_snapshot

    rows = []
    for symbol in symbols:
        try:
            snap = load_snapshot(client, symbol)
        except Exception as exc:  # a symbol with unreadable state keeps its row
            rows.append([symbol, f"unreadable: {exc}", *["-"] * (len(COLUMNS) - 2)])
            continue
        position = snap.grid.position
        open_orders = sum(s.status is not SlotStatus.FREE for s in snap.grid.slots.values())
        price = snap.tick.price if snap.tick else None
        tick = snap.rules.tick_size if snap.rules else None
        step = snap.rules.step_size if snap.rules else None
        cents = Decimal("0.01")
        mark = price if price is not None else position.avg_cost
        rows.append(
            [
                symbol,
                snap.status,
                _num(price, tick) if price is not None else "-",
                _num(position.qty, step),
                _num(abs(position.qty) * mark, cents),
                str(open_orders),
                str(fills.get(symbol, 0)),
                _num(position.realized_pnl, cents),
                _num(position.unrealized_pnl(mark), cents),
                _num(position.fees, cents),
            ]
        )
    return rows


def _num(value: Decimal, quantum: Decimal | None) -> str:
    """Return value rounded to quantum (a tick, a step, a cent) as plain text."""
    if quantum is not None and quantum > 0:
        value = value.quantize(quantum.normalize())
    return f"{value.copy_abs() if value.is_zero() else value:f}"  # never "-0.00"


def fill_counts(database_url: str) -> dict[str, int]:
    """Return the ledger's number of fills per symbol ({} while Postgres does not answer)."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            rows = conn.execute("SELECT symbol, count(*) FROM fills GROUP BY symbol").fetchall()
    except psycopg.Error:
        return {}
    return {str(symbol): int(count) for symbol, count in rows}


def render(rows: list[list[str]], bridge: dict[str, str], elapsed_s: float, urls: str) -> str:
    """Return the status table as text."""
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        f"mmtasks fleet, {elapsed_s:.0f}s up; bridge "
        f"{bridge.get('state', 'starting')}, {bridge.get('price_count', '0')} ticks read",
        urls,
    ]
    for row in [COLUMNS, *rows]:
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def show(out: TextIO, text: str) -> None:
    """Print text; on a terminal, redraw it in place."""
    if out.isatty():
        out.write("\x1b[H\x1b[J")
    out.write(text + "\n\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the fleet until Ctrl-C, SIGTERM or --seconds; return the exit code."""
    args = parse_args(argv)
    config = load_config(args.config, args.symbols)
    if args.venue:  # the registry says where each symbol trades
        config = {s: {**entry, "exchange": args.venue} for s, entry in config.items()}
    port = web_port(args.web_port)
    symbols = list(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    from mmtasks.embedded import resolve_services
    from mmtasks.registry.migrate import migrate

    data_dir: Path = args.data_dir
    services = resolve_services(data_dir, allow_local=False)
    settings = get_settings().with_services(
        REDIS_URL=services.redis_url,
        CELERY_BROKER_URL=services.redis_url,
        DATABASE_URL=services.database_url,
    )
    print(f"redis    {settings.redis_url} ({services.redis_source})")
    print(f"postgres {settings.database_url} ({services.database_source})")
    print(f"logs     {data_dir / 'logs'}", flush=True)
    migrate(settings.database_url)
    seed_registry(settings.database_url, config)
    # The registry may hold more than this run's config (symbols added in an earlier run of the
    # same data folder): the fleet trades all of them.
    registry = registry_symbols(settings.database_url)
    symbols = sorted(set(symbols) | (registry[0] if registry else set()))
    fleet = Fleet({**os.environ, **settings.service_env()}, data_dir / "logs")
    workers = Workers(fleet)
    services_file = data_dir / "services.json"
    code = 0
    try:
        # The simulated exchange lists the catalogue too, so `mmtasks add SOLUSDT ...` can trade.
        addr = start_connector(fleet, catalogue(symbols), args.tick_ms, data_dir, args.venue)
        settings = settings.with_services(CONNECTOR_ADDR=addr)
        fleet.env.update(settings.service_env())
        write_services_file(services_file, settings, os.getpid())
        start_fleet(fleet, workers, symbols, data_dir)
        if args.record:
            fleet.spawn(
                "recorder",
                sys.executable,
                "-m",
                "mmtasks.replay.record",
                "--symbols",
                ",".join(symbols),
                "--connector",
                addr,
                "--data-dir",
                str(data_dir),
            )
            print(f"recording {data_dir / 'recordings'}", flush=True)
        web_url, flower_url = start_web(fleet, port)
        init_symbols(settings, config)
        urls = (
            f"dashboard {web_url}  (/status /metrics /health)   flower {flower_url}\n"
            f"{_urls_line(services_file)}"
        )
        code = watch(fleet, settings, workers, args.seconds, stop, urls)
    finally:
        print("stopping the fleet ...", flush=True)
        services_file.unlink(missing_ok=True)
        fleet.stop()
    print("stopped")
    return code


def _urls_line(services_file: Path) -> str:
    """Return the line that tells an operator how other commands find this fleet."""
    default = services_file.resolve() == DEFAULT_SERVICES_FILE.resolve()
    how = "" if default else f" (export MMTASKS_SERVICES_FILE={services_file})"
    return f"commands run from this folder use this fleet: see {services_file}{how}"


def watch(
    fleet: Fleet,
    settings: Settings,
    workers: Workers,
    seconds: float,
    stop: threading.Event,
    urls: str = "",
) -> int:
    """Print the status table until stop is set or seconds pass; 1 if a child died.

    Each round also brings the workers in line with the registry (a symbol added or removed
    while the fleet runs); what changed is listed under the table.
    """
    from mmtasks.state.keys import BRIDGE_HEARTBEAT

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, decode_responses=True)
    started = time.monotonic()
    changes: list[str] = []
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if seconds and elapsed >= seconds:
                return 0
            dead = fleet.failed()
            if dead is not None:
                print(
                    f"{dead.name} exited with {dead.proc.returncode}; see {dead.log_path}",
                    file=sys.stderr,
                )
                return 1
            try:
                registry = registry_symbols(settings.database_url)
                if registry is not None:
                    wanted, removed = registry
                    changes = (
                        changes
                        + workers.sync(
                            wanted, removed_in_redis(client, removed & set(workers.by_symbol))
                        )
                    )[-5:]
                heartbeat = {str(k): str(v) for k, v in client.hgetall(BRIDGE_HEARTBEAT).items()}
                fills = fill_counts(settings.database_url)
                rows = status_rows(client, workers.symbols, fills)
                text = "\n".join([render(rows, heartbeat, elapsed, urls), *changes])
            except redis.RedisError as exc:
                text = f"redis unavailable: {exc}"
            show(sys.stdout, text)
            stop.wait(STATUS_EVERY_S)
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
