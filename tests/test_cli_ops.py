"""The operator CLI round trip: `mmtasks <command>` in a subprocess, a real control worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mmtasks.ledger import FillRecord, write_fills
from tests.admin.conftest import Fleet, _celery_app_on_test_redis, control  # noqa: F401 - fixtures
from tests.procs import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SYMBOL = "JJJUSDT"  # the admin fleet's connector lists it; no other test here uses it
D = Decimal


def mmtasks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `mmtasks args...` as an operator would, with env's services."""
    return subprocess.run(
        [sys.executable, "-m", "mmtasks.cli", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, "MMTASKS_SERVICES_FILE": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def answer(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_add_pause_status_and_list_go_through_the_control_worker(
    control: Fleet,  # noqa: F811
) -> None:
    added = mmtasks(
        control.env,
        "add",
        SYMBOL,
        "--interval",
        "10",
        "--order-qty",
        "1",
        "--levels",
        "2",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    assert answer(added)["ok"] is True

    paused = mmtasks(control.env, "pause", SYMBOL)
    listed = answer(mmtasks(control.env, "symbols", "--json"))
    status = mmtasks(control.env, "status", SYMBOL, "--json")
    table = mmtasks(control.env, "status", SYMBOL)

    assert paused.returncode == 0, paused.stderr
    assert {s["symbol"]: s["status"] for s in listed["symbols"]}[SYMBOL] == "PAUSED"
    assert [s["symbol"] for s in answer(status)["symbols"]] == [SYMBOL]
    assert table.returncode == 0 and SYMBOL in table.stdout


def test_a_refused_call_exits_non_zero_and_changes_nothing(control: Fleet) -> None:  # noqa: F811
    refused = mmtasks(
        control.env, "add", "IIIUSDT", "--interval", "-1", "--order-qty", "1", "--json"
    )
    listed = answer(mmtasks(control.env, "symbols", "--json"))

    assert refused.returncode == 1
    assert answer(refused)["ok"] is False
    assert "IIIUSDT" not in {s["symbol"] for s in listed["symbols"]}


def test_without_a_control_worker_the_command_says_so_in_one_line(
    control: Fleet,  # noqa: F811
) -> None:
    # Another Redis database: the broker is up, but no worker consumes its control queue.
    base = control.env["REDIS_URL"].rsplit("/", 1)[0]
    env = {**control.env, "REDIS_URL": f"{base}/15", "CELERY_BROKER_URL": f"{base}/15"}

    done = mmtasks(env, "symbols", "--timeout", "1")

    assert done.returncode == 3
    assert len(done.stderr.strip().splitlines()) == 1
    assert "`control`" in done.stderr


@pytest.mark.parametrize(
    ("command", "var"),
    [(("status",), "REDIS_URL"), (("fills", SYMBOL), "DATABASE_URL")],
)
def test_an_unreachable_service_is_named_with_its_url_and_where_it_came_from(
    command: tuple[str, ...], var: str
) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
    }

    done = mmtasks(env, *command)

    assert done.returncode == 3
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"({var} from env)" in done.stderr


def test_fills_and_pnl_read_the_ledger(control: Fleet) -> None:  # noqa: F811
    symbol = "HHHUSDT"
    fills = [
        FillRecord(f"t{i}", symbol, f"o{i}", f"c{i}", side, D(price), D(1), D(0), None, False, ts)
        for i, (side, price, ts) in enumerate(
            [("BUY", "90", 1_000), ("SELL", "100", 2_000), ("BUY", "80", 3_000)]
        )
    ]
    with psycopg.connect(control.pg_url) as conn:
        write_fills(conn, fills)

    since = answer(mmtasks(control.env, "fills", symbol, "--since", "2000", "--json"))
    newest = answer(mmtasks(control.env, "fills", symbol, "--limit", "1", "--json"))
    pnl = answer(mmtasks(control.env, "pnl", symbol, "--json"))

    assert [f["trade_id"] for f in since] == ["t1", "t2"]
    assert [f["trade_id"] for f in newest] == ["t2"]
    assert pnl[0]["fills"] == 3
    assert D(pnl[0]["position"]) == 1 and D(pnl[0]["realized_pnl"]) == 10


def test_risk_set_and_risk_show_the_fleet_limits_and_bad_ones_are_refused(
    control: Fleet,  # noqa: F811
) -> None:
    set_ = mmtasks(control.env, "risk-set", "max_exposure_quote=50000", "latency_window_s=20")
    shown = answer(mmtasks(control.env, "risk", "--json"))
    refused = mmtasks(control.env, "risk-set", "max_exposure_quote=-5")
    removed = answer(mmtasks(control.env, "risk-set", "max_exposure_quote=none", "--json"))

    assert set_.returncode == 0, set_.stderr
    assert "max_exposure_quote" in set_.stdout and "50000" in set_.stdout
    assert shown["limits"]["max_exposure_quote"] == "50000"
    assert shown["limits"]["latency_window_s"] == "20"
    assert refused.returncode == 1
    assert "max_exposure_quote must be > 0, received -5" in refused.stderr
    assert removed["limits"]["max_exposure_quote"] is None
