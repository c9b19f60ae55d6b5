"""`make multihost` (root): a fleet on three hosts, and what it does when one of them fails.

Three network namespaces joined by a Linux bridge stand for three hosts; every address lives
inside them (the machine's own network is not touched). The fleet is docs/deploy.md's: its
environment block and Procfile are read and each line runs as written on its host (the
services section on mm-svc, the worker section on mm-w1 and mm-w2, each with its own
MMTASKS_HOST). This program adds what the document leaves to the operator: Redis and Postgres
(behind a TCP front) on mm-svc, and the release step (migrate, seed, init).

  mm-svc  10.77.0.1  services: Redis, Postgres, the connector, the leading bridge, beat, the
                     control worker; this program runs here too
  mm-w1   10.77.0.2  worker host 1: a worker for every symbol queue, a standby bridge
  mm-w2   10.77.0.3  worker host 2: the same (each worker host is the other's standby)

Scenarios, in order; after each the feed is paused, the fleet settles and the invariant
checker runs (no duplicate order, no lost fill, Redis, ledger and exchange agreeing on
position and PnL):

  kill-worker-host   SIGKILL every process of a worker host holding a symbol lock; `status`
                     must flag every symbol (one host of 2) until the host is back
  cut-off-host       that host's link down for --cut-s (30) seconds, then up again
  freeze-workers     SIGSTOP every symbol worker on both hosts for --freeze-s (15), SIGCONT
  kill-bridge        SIGKILL the leading bridge; a standby bridge takes over

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

# -- the fleet ---------------------------------------------------------------------------------


DEPLOY_MD = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def deploy_doc(path: Path = DEPLOY_MD) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
    """Return the environment and the Procfile sections ("services", "worker") that
    docs/deploy.md gives: the test bed runs what the document says, not a recipe of its own."""
    text = path.read_text()
    env_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    env = dict(line.split("=", 1) for line in env_block.splitlines() if "=" in line)
    procfile = text.split("```procfile\n", 1)[1].split("```", 1)[0]
    sections: dict[str, list[tuple[str, str]]] = {"services": [], "worker": []}
    current = "services"
    for line in procfile.splitlines():
        if line.startswith("#"):
            current = "worker" if "worker" in line else "services"
        elif ":" in line:
            name, cmd = line.split(":", 1)
            sections[current].append((name.strip(), cmd.strip()))
    return env, sections


@dataclass
class Bed:
    """The processes of the fleet on its three hosts, started from docs/deploy.md."""

    data_dir: Path
    symbols: list[str]
    fleet: Any = None
    env: dict[str, str] = field(default_factory=dict)
    procfile: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    children: dict[str, Any] = field(default_factory=dict)
    host_of: dict[str, str] = field(default_factory=dict)  # child name -> namespace
    app: Any = None  # a Celery app on the fleet's broker, for admin calls (`status`)

    def start(self, ns: str, name: str, cmd: str) -> Any:
        """Run one Procfile line on host ns (`ip netns exec ... sh -c`), in the fleet's folder,
        with the document's environment and the host's own MMTASKS_HOST."""
        env = {**self.env, "MMTASKS_HOST": HOST_NAME[ns]}
        self.fleet.env = env
        child = self.fleet.spawn(
            f"{name}@{ns}",
            "ip",
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            f"cd {self.data_dir} && exec {cmd}",
        )
        self.children[f"{name}@{ns}"], self.host_of[f"{name}@{ns}"] = child, ns
        return child

    def start_section(self, ns: str, section: str, only: str = "") -> None:
        for name, cmd in self.procfile[section]:
            if not only or name == only:
                self.start(ns, name, cmd)

    def group(self, names: list[str], sig: signal.Signals) -> None:
        for name in names:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.children[name].proc.pid, sig)

    def on_host(self, ns: str) -> list[str]:
        return [n for n, host in self.host_of.items() if host == ns and self.children[n].alive()]


def start_bed(bed: Bed) -> None:
    """Start Redis and Postgres on the services host, run the release step, then every
    process of docs/deploy.md's Procfile on its host; initialise every symbol."""
    from mmtasks.celery import make_app
    from mmtasks.embedded import start_embedded_postgres
    from mmtasks.registry.migrate import migrate
    from mmtasks.run.children import Fleet
    from mmtasks.run.defaults import DEFAULT_CONFIG
    from mmtasks.run.symbols import init_symbols, load_config, seed_registry
    from mmtasks.settings import build_settings

    svc = ADDRESS[SVC]
    doc_env, bed.procfile = deploy_doc()
    connector = dict(bed.procfile["services"])["connector"]
    config = load_config(DEFAULT_CONFIG, connector.split("--symbols ", 1)[1].split()[0])
    bed.symbols[:] = list(config)
    pg_uri = start_embedded_postgres(bed.data_dir / "postgres")
    socket_dir = pg_uri.split("host=")[1].split("&")[0]
    socket_path = str(next(Path(socket_dir).glob(".s.PGSQL.*")))
    bed.fleet = Fleet(dict(os.environ), bed.data_dir / "logs")
    bed.fleet.spawn(
        "redis", redis_server(), "--bind", svc, "--port", "6379", "--save", "", "--appendonly", "no"
    )
    front = (sys.executable, "-m", "chaos.multihost", "--pg-front", f"{svc}:5432", socket_path)
    bed.fleet.spawn("pg-front", *front)
    wait_for(lambda: reachable(svc, 6379) and reachable(svc, 5432), "Redis and Postgres")
    bed.env = {
        **os.environ,
        **doc_env,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "MMTASKS_SERVICES_FILE": str(bed.data_dir / "services.json"),
    }
    settings = build_settings({**doc_env, "MMTASKS_HOST": HOST_NAME[SVC]})
    migrate(settings.database_url)  # the release step
    seed_registry(settings.database_url, config)
    bed.start_section(SVC, "services")
    host, port = settings.connector_addr.rsplit(":", 1)
    wait_for(lambda: reachable(host, int(port)), "the connector")
    bed.start_section(W1, "worker")
    bed.start_section(W2, "worker")
    init_symbols(settings, config)
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
    bed.start_section(victim, "worker")
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
    names = [n for n in bed.on_host(W1) + bed.on_host(W2) if n.startswith("symbols")]
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
    bed.group([f"bridge@{ns}"], signal.SIGKILL)
    times = time_to_trading(c, bed.symbols, started)
    bed.children[f"bridge@{ns}"].proc.wait()
    bed.start_section(ns, "services" if ns == SVC else "worker", only="bridge")  # a standby
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

    os.environ["MMTASKS_HOST"] = HOST_NAME[SVC]
    data_dir = Path(tempfile.mkdtemp(prefix="mmtasks-multihost-"))
    bed = Bed(data_dir, [])
    outcomes: list[Outcome] = []
    try:
        print(f"multihost: starting the fleet on 3 hosts (logs in {data_dir / 'logs'})", flush=True)
        start_bed(bed)
        addr = bed.env["CONNECTOR_ADDR"]
        c = Clients(
            redis.Redis.from_url(bed.env["REDIS_URL"], decode_responses=True, socket_timeout=10),
            ExchangeClient(addr, token=bed.env["CONNECTOR_TOKEN"], timeout_s=10),
            SimControlClient(addr, token=bed.env["CONNECTOR_TOKEN"]),
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
