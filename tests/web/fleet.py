"""A trading fleet for the web tests: connector on a random walk, bridge, control and symbol
workers, symbols registered with `add_symbol`, and the web process watching it all."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis as redis_lib

from mmtasks.embedded import Services
from mmtasks.registry.migrate import migrate
from mmtasks.state.keys import keys_for
from tests.bridge.conftest import BridgeProc, wait_connected
from tests.conftest import with_search_path
from tests.helpers import eventually
from tests.procs import Worker, connector
from tests.web.conftest import WebProc

TRADING = {
    "BTCUSDT": {
        "strategy": {
            "mode": "neutral",
            "interval": "15",
            "buy_levels": 4,
            "sell_levels": 4,
            "order_qty": "0.002",
        },
        "risk": {"max_position": "0.012", "kline_interval": "1s", "stale_after_s": 30},
    },
    "ETHUSDT": {
        "strategy": {
            "mode": "long",
            "interval": "1.5",
            "buy_levels": 4,
            "sell_levels": 4,
            "order_qty": "0.02",
        },
        "risk": {"max_position": "0.2", "kline_interval": "1s", "stale_after_s": 30},
    },
}
ADDED = "SOLUSDT"  # listed at the connector, registered by a test with add_symbol
ADDED_CONFIG = {
    "strategy": {"mode": "neutral", "interval": "0.2", "buy_levels": 3, "order_qty": "0.5"},
    "risk": {"max_position": "3", "kline_interval": "1s"},
}
LISTED = [*TRADING, ADDED]
START_PRICES = ["BTCUSDT=64000", "ETHUSDT=3200", "SOLUSDT=150"]


@dataclass
class WebFleet:
    env: dict[str, str]
    addr: str
    pg_url: str
    redis: redis_lib.Redis
    web: WebProc
    workers: list[Worker] = field(default_factory=list)

    def admin(self, task: str, **kwargs: Any) -> dict[str, Any]:
        """Run one admin task on the control worker and return its answer."""
        from mmtasks.celery import app

        result: dict[str, Any] = app.send_task(f"mmtasks.admin.{task}", kwargs=kwargs).get(
            timeout=60
        )
        assert result["ok"], result
        return result

    def settled(self, symbol: str) -> bool:
        """Return True when the symbol's inbox, queue and ledger buffer are all drained."""
        k = keys_for(symbol)
        drained = int(self.redis.hget(k.state, "last_seq") or 0) == int(self.redis.get(k.seq) or 0)
        return (
            drained
            and self.redis.llen(symbol.lower()) == 0
            and not self.redis.exists(k.price_pending)
            and self.redis.llen(k.fills_out) == 0
        )


def _ping(worker: Worker) -> bool:
    from mmtasks.celery import app

    assert worker.proc.poll() is None, f"worker exited, see {worker.log_path}"
    return bool(app.control.ping(destination=[worker.name], timeout=0.5))


@contextmanager
def web_fleet(services: Services, redis_base_url: str) -> Iterator[WebFleet]:
    """Run the fleet on a flushed Redis database and a fresh schema; stop it all after."""
    from mmtasks.celery import app

    app.conf.broker_url = app.conf.result_backend = redis_base_url
    redis_lib.Redis.from_url(redis_base_url).flushdb()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    pg_url = with_search_path(services.database_url, schema)
    migrate(pg_url)
    client = redis_lib.Redis.from_url(redis_base_url, decode_responses=True)
    bridge: BridgeProc | None = None
    web: WebProc | None = None
    workers: list[Worker] = []
    args = ["--feed", "random", "--tick-ms", "100", "--seed", "11", "--symbols", ",".join(LISTED)]
    with connector(*args, "--start-price", *START_PRICES) as addr:
        env = {
            "REDIS_URL": redis_base_url,
            "CELERY_BROKER_URL": redis_base_url,
            "DATABASE_URL": pg_url,
            "CONNECTOR_ADDR": addr,
        }
        try:
            workers.append(Worker(["control"], env, name="web-control"))
            # ADDED gets its worker up front, as an operator starts it before add_symbol.
            workers += [Worker([s.lower()], env, name=f"web-{s.lower()}") for s in LISTED]
            for worker in workers:
                eventually(lambda w=worker: _ping(w), timeout_s=60)
            web = WebProc(env)
            fleet = WebFleet(env, addr, pg_url, client, web, workers)
            for symbol, config in TRADING.items():
                fleet.admin("add_symbol", symbol=symbol, **config)
            bridge = BridgeProc(["--kline-interval", "1s"], env)
            wait_connected(client)
            yield fleet
        finally:
            if bridge is not None:
                bridge.stop()
            if web is not None:
                web.stop()
            for worker in workers:
                worker.proc.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.stop()
            client.close()
            with psycopg.connect(services.database_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
