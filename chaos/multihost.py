"""`make multihost` (root): a fleet on three hosts, and what it does when one of them fails.

Three network namespaces joined by a Linux bridge stand for three hosts; every address lives
inside them (the machine's own network is not touched):

  mm-svc  10.77.0.1  services: Redis, Postgres (behind a TCP front on 10.77.0.1:5432), the
                     connector (token required off loopback), the leading bridge, beat and
                     the control worker; this program runs here too
  mm-w1   10.77.0.2  worker host 1: one worker for every symbol queue, and a standby bridge
  mm-w2   10.77.0.3  worker host 2: a second worker for every symbol queue (the standby host)

Scenarios, in order; after each the feed is paused, the fleet settles and the invariant
checker runs (no duplicate order, no lost fill, Redis, ledger and exchange agreeing on
position and PnL):

  kill-worker-host   SIGKILL every process of the worker host holding most symbol locks
  cut-off-host       that host's link down for --cut-s (30) seconds, then up again
  freeze-workers     SIGSTOP every symbol worker on both hosts for --freeze-s (15), SIGCONT
  kill-bridge        SIGKILL the leading bridge; the standby bridge on mm-w1 takes over

Time to trading is printed per scenario (from the kill or cut, or from the thaw): every
symbol ACTIVE, stepped since, and an order of ours resting. Exit 1 when one takes longer than
--bound-s (10) or an invariant breaks. Everything is torn down at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.netns import (
    ADDRESS,
    HOST_NAME,
    SVC,
    TOKEN,
    W1,
    W2,
    link,
    reachable,
    redis_server,
    serve_pg_front,
    set_up_network,
    tear_down_network,
    wait_for,
)

LOCK_TTL_MS = "5000"


# -- the fleet ---------------------------------------------------------------------------------


@dataclass
class Bed:
    """The processes of the fleet on its three hosts, and how to reach its services."""

    data_dir: Path
    symbols: list[str]
    tick_ms: int
    fleet: Any = None
    env: dict[str, str] = field(default_factory=dict)
    children: dict[str, Any] = field(default_factory=dict)
    host_of: dict[str, str] = field(default_factory=dict)  # child name -> namespace
    connector_addr: str = ""
    app: Any = None  # a Celery app on the fleet's broker, for admin calls (`status`)

    def spawn(self, ns: str, name: str, *cmd: str, env: dict[str, str] | None = None) -> Any:
        """Start cmd on host ns (`ip netns exec`), with the fleet's environment and the host's
        own name (MMTASKS_HOST, and Celery node names built from it)."""
        saved = self.fleet.env
        self.fleet.env = {**saved, "MMTASKS_HOST": HOST_NAME[ns], **(env or {})}
        try:
            child = self.fleet.spawn(name, "ip", "netns", "exec", ns, *cmd)
        finally:
            self.fleet.env = saved
        self.children[name], self.host_of[name] = child, ns
        return child

    def start_workers(self, ns: str) -> None:
        from mmtasks.assign import worker_argv

        queues = [s.lower() for s in self.symbols]
        argv = worker_argv(0, queues)
        argv[argv.index("-n") + 1] = f"symbols0@{HOST_NAME[ns]}"
        self.spawn(ns, f"worker-{ns}", sys.executable, "-m", "celery", "-A", "mmtasks", *argv)

    def start_bridge(self, ns: str) -> None:
        self.spawn(ns, f"bridge-{ns}", sys.executable, "-m", "bridge")

    def group(self, names: list[str], sig: signal.Signals) -> None:
        for name in names:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.children[name].proc.pid, sig)

    def on_host(self, ns: str) -> list[str]:
        return [n for n, host in self.host_of.items() if host == ns and self.children[n].alive()]


def start_bed(bed: Bed) -> None:
    """Start the services and the fleet across the hosts; initialise every symbol."""
    from mmtasks.celery import make_app
    from mmtasks.embedded import start_embedded_postgres
    from mmtasks.registry.migrate import migrate
    from mmtasks.run.children import Fleet
    from mmtasks.run.defaults import DEFAULT_CONFIG
    from mmtasks.run.symbols import init_symbols, load_config, seed_registry
    from mmtasks.settings import get_settings

    svc = ADDRESS[SVC]
    config = load_config(DEFAULT_CONFIG, str(len(bed.symbols)))
    bed.symbols[:] = list(config)
    pg_uri = start_embedded_postgres(bed.data_dir / "postgres")
    socket_dir = pg_uri.split("host=")[1].split("&")[0]
    socket_path = str(next(Path(socket_dir).glob(".s.PGSQL.*")))
    bed.fleet = Fleet(dict(os.environ), bed.data_dir / "logs")
    redis_bin = redis_server()
    bed.fleet.spawn(
        "redis", redis_bin, "--bind", svc, "--port", "6379", "--save", "", "--appendonly", "no"
    )
    bed.fleet.spawn(
        "pg-front",
        sys.executable,
        "-m",
        "chaos.multihost",
        "--pg-front",
        f"{svc}:5432",
        socket_path,
    )
    redis_url = f"redis://{svc}:6379/0"
    database_url = f"postgresql://postgres@{svc}:5432/postgres"
    wait_for(lambda: reachable(svc, 6379) and reachable(svc, 5432), "Redis and Postgres")
    settings = get_settings().with_services(
        REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, DATABASE_URL=database_url
    )
    migrate(database_url)
    seed_registry(database_url, config)
    port_file = bed.data_dir / "connector.port"
    feed = ("--feed", "random", "--tick-ms", str(bed.tick_ms), "--symbols", ",".join(bed.symbols))
    bed.env = {
        **os.environ,
        **settings.service_env(),
        "CONNECTOR_TOKEN": TOKEN,
        "MMTASKS_LOCK_TTL_MS": LOCK_TTL_MS,
        "MMTASKS_MIN_HOSTS": "2",
        "MMTASKS_DATA_DIR": str(bed.data_dir),
        "MMTASKS_SERVICES_FILE": str(bed.data_dir / "services.json"),
    }
    bed.fleet.env = bed.env
    bed.spawn(
        SVC, "connector", sys.executable, "-m", "mmtasks.connector", "--sim", *feed,
        "--host", svc, "--port", "0", "--port-file", str(port_file),
    )  # fmt: skip
    wait_for(lambda: port_file.exists() and port_file.read_text().strip() != "", "the connector")
    bed.connector_addr = f"{svc}:{port_file.read_text().strip()}"
    bed.env["CONNECTOR_ADDR"] = bed.connector_addr
    bed.fleet.env = bed.env
    celery = (sys.executable, "-m", "celery", "-A", "mmtasks")
    bed.spawn(
        SVC, "control", *celery, "worker", "-Q", "control", "-n", "control@host-svc", "-c", "2"
    )
    schedule = str(bed.data_dir / "celerybeat-schedule")
    bed.spawn(SVC, "beat", *celery, "beat", "-s", schedule)
    bed.start_bridge(SVC)
    bed.start_workers(W1)
    bed.start_workers(W2)
    bed.start_bridge(W1)  # the standby
    init_symbols(settings.with_services(CONNECTOR_ADDR=bed.connector_addr), config)
    bed.app = make_app(settings)


# -- the scenarios -----------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    times: dict[str, float | None]
    problems: list[str]
    note: str = ""

    @property
    def worst_s(self) -> float | None:
        values = list(self.times.values())
        return None if not values or None in values else max(v for v in values if v is not None)


@dataclass
class Clients:
    r: Any
    exchange: Any
    sim: Any
    pg_url: str


def now_ms() -> int:
    return int(time.time() * 1000)


def trading(c: Clients, symbol: str, since_ms: int) -> bool:
    """ACTIVE, stepped since since_ms on a price newer than since_ms, an order of ours rests."""
    from mmtasks.grid.ids import is_ours
    from mmtasks.state.keys import keys_for
    from mmtasks.state.record import read_record

    try:
        live = read_record(c.r, symbol)
        if live.status is None or live.status.value != "ACTIVE" or live.anchor is None:
            return False
        if live.last_step_ms < since_ms or live.last_price_ts_ms < since_ms:
            tick = int(c.r.hget(keys_for(symbol).tick, "ts_event_ms") or 0)
            if live.last_step_ms < since_ms or tick < since_ms:
                return False
        return any(is_ours(symbol, o.client_order_id) for o in c.exchange.open_orders(symbol))
    except Exception:  # a host still cut off, a server still starting: not trading yet
        return False


def time_to_trading(
    c: Clients, symbols: list[str], since_ms: int, timeout_s: float = 60
) -> dict[str, float | None]:
    found: dict[str, float | None] = dict.fromkeys(symbols)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and None in found.values():
        for s in symbols:
            if found[s] is None and trading(c, s, since_ms):
                found[s] = (now_ms() - since_ms) / 1000
        time.sleep(0.1)
    return found


def settle_and_check(bed: Bed, c: Clients) -> list[str]:
    """Pause the feed, wait for a quiet fleet, run the invariant checker, resume the feed."""
    from mmtasks.audit.invariants import check
    from mmtasks.audit.settle import wait_settled

    c.sim.set_feed(paused=True)
    settled = wait_settled(c.r, bed.symbols, exchange=c.exchange, timeout_s=90, quiet_s=2.0)
    reports = check(c.exchange, c.r, c.pg_url, bed.symbols)
    c.sim.set_feed(paused=False)
    problems = [p for report in reports for p in report.problems()]
    if not settled.settled:
        problems.append(f"not settled: {settled.unsettled}")
    return problems


def busy_host(c: Clients, symbols: list[str], timeout_s: float = 20) -> str:
    """Return the worker namespace whose worker holds a symbol lock right now, waiting for one
    (locks are held only while a step runs): failing that host strands a step mid-way, the
    harder case for whoever takes over."""
    from mmtasks.registry.status import lock_holder
    from mmtasks.state.keys import keys_for

    by_name = {name: ns for ns, name in HOST_NAME.items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pipe = c.r.pipeline(transaction=False)
        for s in symbols:
            pipe.get(keys_for(s).lock)
        for token in pipe.execute():
            ns = by_name.get((lock_holder(token) or "").rpartition(":")[0])
            if ns in (W1, W2):
                return ns
    return W1


def status_lines(bed: Bed) -> tuple[list[str], dict[str, list[str]]]:
    """Ask the control worker for `status` (as `mmtasks status` does); return one line per
    symbol (consumers by host, the lock holder) and each symbol's consumer problems."""
    answer = bed.app.send_task("mmtasks.admin.status", queue="control").get(timeout=60)
    lines, flagged = [], {}
    for e in answer["symbols"]:
        hosts = "; ".join(f"{h}: {','.join(n)}" for h, n in (e["consumers_by_host"] or {}).items())
        lines.append(f"{e['symbol']}: consumers {hosts or '-'}; lock {e['lock_holder'] or 'free'}")
        flagged[e["symbol"]] = [p for p in e["problems"] if "consume" in p]
    return lines, flagged


def kill_worker_host(bed: Bed, c: Clients, args: argparse.Namespace) -> Outcome:
    victim = busy_host(c, bed.symbols)
    names = bed.on_host(victim)
    started = now_ms()
    bed.group(names, signal.SIGKILL)
    times = time_to_trading(c, bed.symbols, started)
    for name in names:  # its supervisor (systemd, the platform) starts the host's processes
        bed.children[name].proc.wait()
    problems: list[str] = []
    # While the host is gone, status flags every symbol: one host left of MMTASKS_MIN_HOSTS=2.
    lines, flagged = status_lines(bed)
    print("   status while it is down:\n     " + "\n     ".join(lines))
    for symbol, found in flagged.items():
        print(f"     {symbol} flagged: {found or 'NOT FLAGGED'}")
        if not found:
            problems.append(f"{symbol} not flagged while {HOST_NAME[victim]} was down")
    bed.start_workers(victim)
    if victim == W1:
        bed.start_bridge(W1)
    deadline = time.monotonic() + 60
    while any(flagged.values()) and time.monotonic() < deadline:
        time.sleep(2)
        lines, flagged = status_lines(bed)
    print("   status once it is back:\n     " + "\n     ".join(lines))
    problems += [
        f"{s} still flagged after the host came back: {f}" for s, f in flagged.items() if f
    ]
    note = f"killed every process of {HOST_NAME[victim]} ({', '.join(names)})"
    return Outcome("kill-worker-host", times, problems + settle_and_check(bed, c), note)


def cut_off_host(bed: Bed, c: Clients, args: argparse.Namespace) -> Outcome:
    victim = busy_host(c, bed.symbols)
    started = now_ms()
    link(victim, up=False)
    try:
        times = time_to_trading(c, bed.symbols, started, timeout_s=args.cut_s)
        time.sleep(max(0.0, args.cut_s - (now_ms() - started) / 1000))
    finally:
        link(victim, up=True)
    back = now_ms()
    after = time_to_trading(c, bed.symbols, back)
    worst_after = max((v for v in after.values() if v is not None), default=None)
    note = (
        f"{HOST_NAME[victim]} cut off for {args.cut_s:g} s; after it came back, every symbol "
        f"traded again within {worst_after} s"
    )
    return Outcome("cut-off-host", times, settle_and_check(bed, c), note)


def freeze_workers(bed: Bed, c: Clients, args: argparse.Namespace) -> Outcome:
    names = [n for n in bed.on_host(W1) + bed.on_host(W2) if n.startswith("worker-")]
    bed.group(names, signal.SIGSTOP)
    time.sleep(args.freeze_s)
    bed.group(names, signal.SIGCONT)
    thawed = now_ms()
    times = time_to_trading(c, bed.symbols, thawed)
    note = f"{len(names)} workers frozen {args.freeze_s:g} s (locks long expired), then thawed"
    return Outcome("freeze-workers", times, settle_and_check(bed, c), note)


def kill_bridge(bed: Bed, c: Clients, args: argparse.Namespace) -> Outcome:
    from bridge.leader import leader_of

    leader = leader_of(c.r)["leader"] or ""
    by_name = {name: ns for ns, name in HOST_NAME.items()}
    ns = by_name.get(leader.rpartition(":")[0], SVC)
    started = now_ms()
    bed.group([f"bridge-{ns}"], signal.SIGKILL)
    times = time_to_trading(c, bed.symbols, started)
    bed.children[f"bridge-{ns}"].proc.wait()
    bed.start_bridge(ns)  # back as the standby
    new = leader_of(c.r)["leader"]
    note = f"killed the leading bridge on {HOST_NAME[ns]}; {new} leads now"
    return Outcome("kill-bridge", times, settle_and_check(bed, c), note)


SCENARIOS = {
    "kill-worker-host": kill_worker_host,
    "cut-off-host": cut_off_host,
    "freeze-workers": freeze_workers,
    "kill-bridge": kill_bridge,
}


# -- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m chaos.multihost",
        description="Run the fleet on three network-namespace hosts (root) and fail them: a "
        "worker host killed, a host cut off, workers frozen, the leading bridge killed. "
        "Prints time to trading per scenario and checks every invariant after each.",
        epilog="scenarios: " + ", ".join(SCENARIOS),
    )
    p.add_argument("--symbols", type=int, default=2, help="symbols traded (default 2)")
    p.add_argument("--tick-ms", type=int, default=200, help="price feed period (default 200)")
    p.add_argument("--cut-s", type=float, default=30, help="how long a host is cut off (30)")
    p.add_argument("--freeze-s", type=float, default=15, help="how long workers freeze (15)")
    p.add_argument("--bound-s", type=float, default=10, help="longest time to trading (10)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    p.add_argument("--keep", action="store_true", help="keep the data folder (logs)")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--pg-front", nargs=2, metavar=("HOST:PORT", "SOCKET"), help=argparse.SUPPRESS)
    return p


def run_inside(args: argparse.Namespace) -> int:
    import redis

    from mmtasks.connector.client import ExchangeClient
    from mmtasks.connector.sim_client import SimControlClient

    os.environ.update({"CONNECTOR_TOKEN": TOKEN, "MMTASKS_HOST": HOST_NAME[SVC]})
    from mmtasks.settings import get_settings

    get_settings.cache_clear()
    data_dir = Path(tempfile.mkdtemp(prefix="mmtasks-multihost-"))
    bed = Bed(data_dir, [""] * args.symbols, args.tick_ms)
    outcomes: list[Outcome] = []
    try:
        print(f"multihost: starting the fleet on 3 hosts (logs in {data_dir / 'logs'})", flush=True)
        start_bed(bed)
        c = Clients(
            redis.Redis.from_url(bed.env["REDIS_URL"], decode_responses=True, socket_timeout=10),
            ExchangeClient(bed.connector_addr, token=TOKEN, timeout_s=10),
            SimControlClient(bed.connector_addr, token=TOKEN),
            bed.env["DATABASE_URL"],
        )
        warm = time_to_trading(c, bed.symbols, 0, timeout_s=120)
        print(f"trading on {bed.symbols}: {warm}", flush=True)
        for name in args.scenarios.split(","):
            print(f"\n== {name}", flush=True)
            outcome = SCENARIOS[name](bed, c, args)
            outcomes.append(outcome)
            print(f"   {outcome.note}")
            print(f"   time to trading: {outcome.times}")
            print(f"   invariants: {'held' if not outcome.problems else outcome.problems[:5]}")
    finally:
        if bed.fleet is not None:
            for child in bed.fleet.children:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGCONT)
            bed.fleet.stop()
        _stop_postgres(data_dir / "postgres")
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
    return _summary(outcomes, args.bound_s)


def _stop_postgres(path: Path) -> None:
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.filterwarnings("ignore")
        import pgserver

        pgserver.get_server(str(path), cleanup_mode="stop").cleanup()  # type: ignore[attr-defined]


def _summary(outcomes: list[Outcome], bound_s: float) -> int:
    print(f"\n{'scenario':<18}{'time to trading':>17}  invariants")
    failed = False
    for o in outcomes:
        worst = o.worst_s
        late = worst is None or worst > bound_s
        failed |= late or bool(o.problems)
        shown = "not trading" if worst is None else f"{worst:.1f} s"
        print(f"{o.name:<18}{shown:>17}  {'held' if not o.problems else 'BROKEN'}")
    print(f"\nmultihost: {'FAILED' if failed else 'PASSED'} (bound {bound_s:g} s)")
    return 1 if failed or not outcomes else 0


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(raw)
    # SIGTERM unwinds like Ctrl-C: the fleet is stopped and the namespaces removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.pg_front:
        host, port = args.pg_front[0].rsplit(":", 1)
        asyncio.run(serve_pg_front(host, int(port), args.pg_front[1]))
        return 0
    if args.inside:
        return run_inside(args)
    if os.geteuid() != 0:
        print("multihost needs root for network namespaces: run `sudo make multihost`")
        return 2
    set_up_network()
    try:
        cmd = ["ip", "netns", "exec", SVC, sys.executable, "-m", "chaos.multihost", "--inside"]
        return subprocess.call([*cmd, *raw])
    finally:
        tear_down_network()


if __name__ == "__main__":
    sys.exit(main())
