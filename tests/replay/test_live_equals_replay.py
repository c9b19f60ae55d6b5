"""Live = replay: the same ticks through the live fleet and through `mmtasks replay` give the
same fills (side, price, qty, fee, maker or taker, in order), position, realized PnL and fees.

Live: the simulated connector with its own feed off, prices injected one at a time (SimControl
`inject_price`), the bridge, a real worker, Redis and Postgres; each tick is settled before the
next (tests/integration/test_grid_paths.py's `Fleet.tick`), the default risk config.
Replay: `mmtasks replay` as the command line runs it (`cli.main`), with `--fill touch`: the
simulated exchange fills a resting order when the price reaches it (a buy at a price <= its
own), which is replay's `touch`; the default `strict` needs the price to trade through.
A recorder process runs beside the fleet; its recording, replayed, gives the same fills too.

The paths visit levels exactly (touch), gap through several levels (passed closing orders fill
at once as takers), and flip a neutral position through zero within one tick. The injected
ticks carry no volume, so the volume monitor (on by default) sees empty candles and never
triggers: candle timing, which live depends on the bridge's two streams, does not enter.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mmtasks.replay.cli import main as replay_main
from mmtasks.replay.recording import read_ticks
from tests.helpers import eventually
from tests.integration.test_grid_paths import SYMBOL, Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

D = Decimal
LONG = {"mode": "long", "interval": "10", "buy_levels": 3, "sell_levels": 2, "order_qty": "1"}
NEUTRAL = {"mode": "neutral", "interval": "10", "buy_levels": 2, "sell_levels": 3, "order_qty": "1"}
LONG_PATH = ["100", "90", "95", "100", "80", "70", "45.5", "105", "99.99", "91.3", "120", "100"]
NEUTRAL_PATH = ["100", "110", "95", "120", "75", "115", "100", "60.5", "130.5", "88", "100"]

FillRow = tuple[str, Decimal, Decimal, Decimal, bool]


def live_fills(exchange: Any) -> list[FillRow]:
    """Return the venue's trades of SYMBOL in trade order."""
    return [(t.side.value, t.price, t.quantity, t.fee, t.is_maker) for t in exchange.trades(SYMBOL)]


def replayed(args: list[str], out: Path) -> tuple[list[FillRow], dict[str, Any]]:
    """Run `mmtasks replay` with args; return its fills and its JSON report."""
    fills_csv, report_json = out / "fills.csv", out / "report.json"
    code = replay_main([*args, "--fills", str(fills_csv), "--json", str(report_json)])
    assert code == 0
    with fills_csv.open() as fh:
        rows = [
            (r["side"], D(r["price"]), D(r["qty"]), D(r["fee"]), r["maker"] == "1")
            for r in csv.DictReader(fh)
        ]
    return rows, json.loads(report_json.read_text())


@pytest.mark.parametrize(
    ("strategy", "path"), [(LONG, LONG_PATH), (NEUTRAL, NEUTRAL_PATH)], ids=["long", "neutral"]
)
def test_live_fleet_and_replay_give_the_same_fills_position_pnl_and_fees(
    live_app: None,
    fleet: Callable[[dict[str, object]], Fleet],
    recorder: Callable[[str], Any],
    exchange: Any,
    tmp_path: Path,
    strategy: dict[str, object],
    path: list[str],
) -> None:
    rec = recorder(SYMBOL)
    fl = fleet(strategy)
    for price in path:
        fl.tick(price)
    live = live_fills(exchange)
    books = fl.position()
    live_books = (D(books["qty"]), D(books["realized_pnl"]), D(books["fees"]))
    folder = rec.root / SYMBOL
    last_seq = exchange.latest_price(SYMBOL).seq
    eventually(lambda: [t.seq for t in read_ticks(folder)][-1:] == [last_seq], timeout_s=20)
    assert rec.stop() == 0

    ticks = tmp_path / "ticks.csv"
    ticks.write_text("".join(f"{k * 1000},{p}\n" for k, p in enumerate(path)))
    info = exchange.symbol_info(SYMBOL)
    common = ["--symbol", SYMBOL, "--strategy", json.dumps(strategy), "--fill", "touch"]
    (tmp_path / "direct").mkdir()
    direct, direct_report = replayed(
        [
            "--data",
            str(ticks),
            *common,
            *("--tick-size", str(info.tick_size), "--step-size", str(info.step_size)),
            *("--min-qty", str(info.min_qty), "--min-notional", str(info.min_notional)),
            *("--maker-fee", str(info.maker_fee_rate), "--taker-fee", str(info.taker_fee_rate)),
        ],
        tmp_path / "direct",
    )
    (tmp_path / "recorded").mkdir()
    recorded, recorded_report = replayed(
        ["--recording", str(rec.root), *common], tmp_path / "recorded"
    )

    assert len(live) >= 8, "the path is meant to trade"
    assert any(not maker for *_, maker in live), "and to fill passed orders as takers"
    assert direct == live
    assert recorded == live
    for report in (direct_report, recorded_report):
        assert (
            D(report["final_position"]),
            D(report["realized_pnl"]),
            D(report["fees"]),
        ) == live_books
