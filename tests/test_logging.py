"""Worker logs speak trading: one structured line per fact, Celery's per-task lines at DEBUG."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.logging_setup import (
    JsonFormatter,
    KeyValueFormatter,
    PerTaskLinesToDebug,
    split_message,
)
from mmtasks.registry.symbol_commands import init_symbol

# The integration kit's fixtures (connector, workers on the test Redis and Postgres).
from tests.integration.conftest import (  # noqa: F401 - fixtures used by name
    GRID,
    _celery_app_on_test_redis,
    exchange,
    exchange_addr,
    fleet_env,
    ledger_url,
    resting,
    sim,
    workers,
)
from tests.kit.feed import set_price
from tests.kit.poll import eventually

SYMBOL = "GRIDUSDT"


@pytest.mark.parametrize(
    ("message", "event", "fields"),
    [
        (
            "order placed symbol=BTCUSDT side=BUY price=100.5 qty=1 client_id=g-1",
            "order placed",
            {"symbol": "BTCUSDT", "side": "BUY", "price": "100.5", "qty": "1", "client_id": "g-1"},
        ),
        (
            "symbol moved to ERROR symbol=ETHUSDT error=ConnectorError: no route to host",
            "symbol moved to ERROR",
            {"symbol": "ETHUSDT", "error": "ConnectorError: no route to host"},
        ),
        (
            "BTCUSDT: inbox gap after seq 4; reconciling",
            "inbox gap after seq 4; reconciling",
            {"symbol": "BTCUSDT"},
        ),
        ("worker ready", "worker ready", {}),
    ],
)
def test_a_message_splits_into_its_event_and_fields(
    message: str, event: str, fields: dict[str, str]
) -> None:
    assert split_message(message) == (event, fields)


def _record(
    msg: str, *args: object, level: int = logging.INFO, name: str = "x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_json_and_key_value_lines_carry_the_same_fields() -> None:
    record = _record("filled symbol=%s price=%s realized=%s", "BTCUSDT", "99.5", "-0.25")

    as_json = json.loads(JsonFormatter().format(record))
    as_kv = dict(pair.split("=", 1) for pair in KeyValueFormatter().format(record).split(" "))

    assert as_json["event"] == "filled" and as_kv["event"] == "filled"
    for key, value in {"symbol": "BTCUSDT", "price": "99.5", "realized": "-0.25"}.items():
        assert as_json[key] == value and as_kv[key] == value


def test_celerys_per_task_success_line_is_demoted_to_debug() -> None:
    record = _record("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s")
    other = _record("order placed symbol=%s", "BTCUSDT")
    demote = PerTaskLinesToDebug()

    demote.filter(record)
    demote.filter(other)

    assert record.levelno == logging.DEBUG
    assert other.levelno == logging.INFO


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Return the log's JSON records (Celery's start banner is plain text: skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_json_worker_logs_the_order_it_placed_as_fields(
    workers: Any,  # noqa: F811 - the fixtures imported above, requested by name
    exchange: Any,  # noqa: F811
    sim: Any,  # noqa: F811
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: a real worker logging JSON, one symbol on the simulated exchange.
    worker = workers([SYMBOL.lower()], env={"LOG_FORMAT": "json"})
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)

    # Act: one tick at 100 makes the long grid place its buys.
    set_price(sim, redis_client, SYMBOL, "100")
    eventually(lambda: len(resting(exchange, SYMBOL)) == 2)

    # Assert: the placements are records with the symbol and price as fields.
    def placed() -> list[dict[str, Any]]:
        return [
            r
            for r in _json_lines(worker.log_text())
            if r.get("event") == "order placed" and r.get("symbol") == SYMBOL
        ]

    records = eventually(lambda: len(placed()) == 2 and placed())
    assert {Decimal(r["price"]) for r in records} == {Decimal(80), Decimal(90)}
    assert all(r["level"] == "INFO" and r["side"] == "BUY" for r in records)
    every = _json_lines(worker.log_text())
    assert not [r for r in every if r["logger"] == "celery.app.trace" and r["level"] == "INFO"]


def test_a_process_that_is_not_a_worker_logs_in_the_same_format_and_honours_log_format() -> None:
    # The bridge, the connector, the web and the simulators call logging_setup.configure at
    # start: a connector's line in JSON reads like a worker's.
    code = (
        "import logging; from mmtasks.logging_setup import configure; configure('INFO'); "
        "logging.getLogger('mmtasks.connector').info('listening addr=127.0.0.1:5001')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["event"], line["addr"]) == (
        "mmtasks.connector",
        "listening",
        "127.0.0.1:5001",
    )


def test_no_process_sets_up_logging_its_own_way() -> None:
    root = Path(__file__).resolve().parent.parent
    found = [
        str(p.relative_to(root))
        for d in ("mmtasks", "bridge", "chaos")
        for p in (root / d).rglob("*.py")
        if "logging.basicConfig(" in p.read_text()
    ]
    assert found == ["mmtasks/replay/record.py"]  # prints a recording's progress, no fields
