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

    def failed(self) -> Child | None:
        """Return a child that exited on its own, if any."""
        return next((c for c in self.children if not c.alive()), None)


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
        help="comma-separated subset of the config's symbols (default: all)",
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
        default=8000,
        help="dashboard port on 127.0.0.1 (default %(default)s; 0 for any free port)",
    )
    parser.add_argument(
        "--tick-ms",
        type=int,
        default=200,
        help="random-walk feed period in ms (default %(default)s)",
    )
    return parser.parse_args(argv)


def load_config(path: Path, only: str) -> dict[str, dict[str, Any]]:
    """Return {symbol: entry} from the symbols file, restricted to `only` when given."""
    entries = (yaml.safe_load(path.read_text()) or {}).get("symbols") or {}
    config: dict[str, dict[str, Any]] = {
        parse_symbol(name): dict(entry or {}) for name, entry in entries.items()
    }
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


def seed_registry(database_url: str, config_path: Path, symbols: list[str]) -> None:
    """Insert the run's symbols into the registry when missing (admin tasks act on rows)."""
    import psycopg

    from mmtasks.registry.seed import load_seed_file, seed

    rows = [row for row in load_seed_file(config_path) if row.symbol in symbols]
    with psycopg.connect(database_url) as conn:
        seed(conn, rows)


def start_connector(fleet: Fleet, symbols: list[str], tick_ms: int, data_dir: Path) -> str:
    """Start the simulated connector on a free port; return its address once it serves."""
    port_file = data_dir / "connector.port"
    port_file.unlink(missing_ok=True)
    child = fleet.spawn(
        "connector",
        sys.executable,
        "-m",
        "mmtasks.connector",
        "--sim",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--feed",
        "random",
        "--tick-ms",
        str(tick_ms),
        "--symbols",
        ",".join(symbols),
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if not child.alive() or time.monotonic() > deadline:
            raise SystemExit(f"the connector did not start; see {child.log_path}")
        time.sleep(0.05)
    return f"127.0.0.1:{port_file.read_text().strip()}"


def start_fleet(fleet: Fleet, symbols: list[str], data_dir: Path) -> None:
    """Start one worker per symbol, the control worker, beat and the bridge."""
    celery = [sys.executable, "-m", "celery", "-A", "mmtasks"]
    for symbol in symbols:
        queue = symbol.lower()
        fleet.spawn(
            f"worker-{queue}",
            *celery,
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
    fleet.spawn(
        "control",
        *celery,
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
        "beat", *celery, "beat", "--loglevel", "INFO", "-s", str(data_dir / "celerybeat-schedule")
    )
    fleet.spawn("bridge", sys.executable, "-m", "bridge", "--symbols", ",".join(symbols))


def start_web(fleet: Fleet, port: int) -> tuple[str, str]:
    """Start the read-only web process and Flower on loopback; return their URLs."""
    from mmtasks.embedded import free_port

    port = port or free_port()
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
    from mmtasks.symbols import init_symbol

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
    seed_registry(settings.database_url, args.config, symbols)
    fleet = Fleet({**os.environ, **settings.service_env()}, data_dir / "logs")
    services_file = data_dir / "services.json"
    code = 0
    try:
        addr = start_connector(fleet, symbols, args.tick_ms, data_dir)
        settings = settings.with_services(CONNECTOR_ADDR=addr)
        fleet.env.update(settings.service_env())
        write_services_file(services_file, settings, os.getpid())
        start_fleet(fleet, symbols, data_dir)
        web_url, flower_url = start_web(fleet, args.web_port)
        init_symbols(settings, config)
        urls = (
            f"dashboard {web_url}  (/status /metrics /health)   flower {flower_url}\n"
            f"{_urls_line(services_file)}"
        )
        code = watch(fleet, settings, symbols, args.seconds, stop, urls)
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
    symbols: list[str],
    seconds: float,
    stop: threading.Event,
    urls: str = "",
) -> int:
    """Print the status table until stop is set or seconds pass; 1 if a child died."""
    from mmtasks.state.keys import BRIDGE_HEARTBEAT

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, decode_responses=True)
    started = time.monotonic()
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
                heartbeat = {str(k): str(v) for k, v in client.hgetall(BRIDGE_HEARTBEAT).items()}
                fills = fill_counts(settings.database_url)
                text = render(status_rows(client, symbols, fills), heartbeat, elapsed, urls)
            except redis.RedisError as exc:
                text = f"redis unavailable: {exc}"
            show(sys.stdout, text)
            stop.wait(STATUS_EVERY_S)
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
