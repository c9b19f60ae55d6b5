"""The invariant checker passes on a consistent state and catches every planted fault.

The state is built by hand on real servers (a connector process, Redis, Postgres): orders with
our client ids are placed and filled at the simulated exchange, then the ledger, Redis position,
slots and events are written to agree with it. Each test then breaks one invariant.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.audit.invariants import check
from mmtasks.audit.model import Fill, Folded, fold, trade_order_key
from mmtasks.audit.settle import wait_settled
from mmtasks.domain import Side
from mmtasks.grid.accounting import apply_fill
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.models import Position
from mmtasks.ledger import FillRecord, write_fills
from mmtasks.state.keys import EVENTS, keys_for
from tests.chaos.conftest import SYMBOL

pytestmark = pytest.mark.chaos
D = Decimal


def cid(level: str, side: Side, generation: int = 1) -> str:
    return client_order_id(SYMBOL, D(level), side, generation)


def build_clean_state(
    exchange: Any, sim: Any, client: redis_lib.Redis, pg_url: str
) -> dict[str, str]:
    """Trade BUY 90, BUY 80, SELL 100 at the exchange; write agreeing ledger, Redis, events.

    Return {name: trade id} for the three fills ("buy90", "buy80", "sell100").
    """
    sim.inject_price(SYMBOL, "100")
    exchange.place_order(SYMBOL, "BUY", "90", "1", cid("90", Side.BUY))
    exchange.place_order(SYMBOL, "BUY", "80", "1", cid("80", Side.BUY))
    sim.inject_price(SYMBOL, "79")
    exchange.place_order(SYMBOL, "SELL", "100", "1", cid("90", Side.SELL, 2))
    exchange.place_order(SYMBOL, "SELL", "110", "1", cid("100", Side.SELL))
    sim.inject_price(SYMBOL, "105")
    exchange.place_order(SYMBOL, "BUY", "70", "1", cid("70", Side.BUY))
    exchange.place_order(SYMBOL, "BUY", "60", "1", "manual1")  # not ours: never an orphan

    trades = exchange.trades(SYMBOL)
    assert [(t.side.value, t.price) for t in trades] == [
        ("BUY", D(90)),
        ("BUY", D(80)),
        ("SELL", D(100)),
    ]
    records = [
        FillRecord(
            t.trade_id,
            SYMBOL,
            t.order_id,
            t.client_order_id,
            t.side.value,
            t.price,
            t.quantity,
            t.fee,
            None,
            False,
            t.ts_ms,
        )
        for t in trades
    ]
    with psycopg.connect(pg_url) as conn:
        write_fills(conn, records)

    position = Position()
    for t in trades:  # the core's own accounting writes Redis; the checker folds independently
        position, _ = apply_fill(position, t.side, t.price, t.quantity, t.fee)
    k = keys_for(SYMBOL)
    client.hset(
        k.position,
        mapping={
            "qty": str(position.qty),
            "avg_cost": str(position.avg_cost),
            "realized_pnl": str(position.realized_pnl),
            "fees": str(position.fees),
        },
    )
    for o in exchange.open_orders(SYMBOL):
        if o.client_order_id == "manual1":
            continue
        client.hset(k.slots, str(o.price), slot_json(o.client_order_id, o.order_id, o.price))
    for seq, t in enumerate(trades, start=1):
        client.xadd(
            EVENTS,
            {
                "type": "ORDER_FILLED",
                "symbol": SYMBOL,
                "event_seq": str(seq),
                "data": json.dumps({"trade_id": t.trade_id}),
            },
        )
    client.xadd(EVENTS, {"type": "ORDER_CREATED", "symbol": SYMBOL, "event_seq": "4", "data": "{}"})
    return dict(zip(("buy90", "buy80", "sell100"), (t.trade_id for t in trades), strict=True))


def slot_json(client_id: str, venue_id: str, price: Decimal, status: str = "LOCKED") -> str:
    return json.dumps(
        {
            "status": status,
            "client_order_id": client_id,
            "venue_order_id": venue_id,
            "price": str(price),
            "qty": "1",
        }
    )


@pytest.fixture
def state(
    exchange: Any, sim: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> dict[str, str]:
    return build_clean_state(exchange, sim, redis_client, ledger_url)


def entry_with_seq(client: redis_lib.Redis, seq: str) -> str:
    rows: Any = client.xrange(EVENTS)
    return str(next(entry for entry, fields in rows if fields["event_seq"] == seq))


def report_of(exchange: Any, client: redis_lib.Redis, pg_url: str) -> Any:
    (report,) = check(exchange, client, pg_url, [SYMBOL])
    return report


def test_a_consistent_state_passes_every_invariant(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    report = report_of(exchange, redis_client, ledger_url)

    assert report.problems() == []
    assert report.events_checked
    assert (report.exchange_qty, report.ledger.realized_pnl) == (D(1), D(15))


def test_a_planted_missing_fill_is_caught(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    # Arrange: the ledger loses the BUY 80 fill.
    with psycopg.connect(ledger_url) as conn:
        conn.execute("DELETE FROM fills WHERE trade_id = %s", (state["buy80"],))

    report = report_of(exchange, redis_client, ledger_url)

    assert not report.ok
    assert report.missing_fills == [state["buy80"]]
    assert report.pnl_mismatch  # Redis still holds the fill the ledger lost
    assert any(state["buy80"] in line for line in report.problems())


def test_planted_extra_and_altered_fills_are_caught(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    extra = FillRecord(
        "X999", SYMBOL, "o1", cid("50", Side.BUY), "BUY", D(50), D(1), D(0), None, False, 1
    )
    with psycopg.connect(ledger_url) as conn:
        write_fills(conn, [extra])
        conn.execute("UPDATE fills SET qty = 2 WHERE trade_id = %s", (state["sell100"],))

    report = report_of(exchange, redis_client, ledger_url)

    assert report.extra_fills[0] == "X999"
    assert report.extra_fills[1].startswith(f"{state['sell100']} (ledger SELL 2@100")
    assert report.missing_fills == []


@pytest.mark.parametrize(
    ("field", "value", "broken"),
    [
        ("qty", "5", "position_mismatch"),
        ("realized_pnl", "16", "pnl_mismatch"),
        ("fees", "0", "pnl_mismatch"),
    ],
)
def test_planted_position_and_pnl_mismatches_are_caught(
    state: dict[str, str],
    exchange: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
    field: str,
    value: str,
    broken: str,
) -> None:
    redis_client.hset(keys_for(SYMBOL).position, field, value)

    report = report_of(exchange, redis_client, ledger_url)

    assert getattr(report, broken)
    assert not report.ok


def test_a_position_lost_with_redis_is_a_mismatch(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    redis_client.delete(keys_for(SYMBOL).position)

    report = report_of(exchange, redis_client, ledger_url)

    assert report.redis_qty is None
    assert report.position_mismatch and report.pnl_mismatch


def test_a_planted_orphan_order_and_a_stale_slot_are_caught(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    # Arrange: an order of ours no slot holds, and a LOCKED slot for an order that is gone.
    orphan = cid("50", Side.BUY)
    exchange.place_order(SYMBOL, "BUY", "50", "1", orphan)
    redis_client.hset(keys_for(SYMBOL).slots, "40", slot_json(cid("40", Side.BUY), "v40", D(40)))

    report = report_of(exchange, redis_client, ledger_url)

    assert [o.split()[0] for o in report.orphan_orders] == [orphan]
    assert report.stale_slots == [f"40: {cid('40', Side.BUY)}"]


@pytest.mark.parametrize(
    ("plant", "missing", "duplicated"),
    [
        ("repeat", [], [2]),
        ("drop", [3], []),
        ("skip", [5], []),
    ],
)
def test_planted_event_seq_faults_are_caught(
    state: dict[str, str],
    exchange: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
    plant: str,
    missing: list[int],
    duplicated: list[int],
) -> None:
    if plant == "repeat":
        redis_client.xadd(EVENTS, {"type": "X", "symbol": SYMBOL, "event_seq": "2", "data": "{}"})
    elif plant == "drop":
        redis_client.xdel(EVENTS, entry_with_seq(redis_client, "3"))
    else:
        redis_client.xadd(EVENTS, {"type": "X", "symbol": SYMBOL, "event_seq": "6", "data": "{}"})

    report = report_of(exchange, redis_client, ledger_url)

    assert (report.event_seq_missing, report.event_seq_duplicated) == (missing, duplicated)
    assert not report.ok


def test_fills_without_or_with_repeated_order_filled_events_are_caught(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    # Arrange: BUY 90's event is replaced by a non-fill event (seq kept); SELL 100's is doubled.
    redis_client.xdel(EVENTS, entry_with_seq(redis_client, "1"))
    redis_client.xadd(EVENTS, {"type": "X", "symbol": SYMBOL, "event_seq": "1", "data": "{}"})
    redis_client.xadd(
        EVENTS,
        {
            "type": "ORDER_FILLED",
            "symbol": SYMBOL,
            "event_seq": "5",
            "data": json.dumps({"trade_id": state["sell100"]}),
        },
    )

    report = report_of(exchange, redis_client, ledger_url)

    assert report.fills_without_event == [state["buy90"]]
    assert report.fills_with_duplicate_event == [f"{state['sell100']} x2"]
    assert report.event_seq_missing == report.event_seq_duplicated == []


def test_events_without_event_seq_are_not_checked_rather_than_failed(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    redis_client.delete(EVENTS)
    redis_client.xadd(EVENTS, {"type": "ORDER_FILLED", "symbol": SYMBOL, "data": "{}"})

    report = report_of(exchange, redis_client, ledger_url)

    assert not report.events_checked
    assert report.events_note.startswith("not checked")
    assert report.ok


@dataclasses.dataclass
class DoubledExchange:
    """The real exchange, plus one open order repeating another's client id (a venue bug)."""

    real: Any

    def open_orders(self, symbol: str = "") -> list[Any]:
        orders = list(self.real.open_orders(symbol))
        twin = dataclasses.replace(orders[0], order_id=f"{orders[0].order_id}-twin")
        return [*orders, twin]

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[Any]:
        return list(self.real.trades(symbol, since_ms, limit))

    def positions(self, symbol: str = "") -> list[Any]:
        return list(self.real.positions(symbol))


def test_a_client_id_on_two_venue_orders_is_caught(
    state: dict[str, str], exchange: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    first = exchange.open_orders(SYMBOL)[0]

    report = report_of(DoubledExchange(exchange), redis_client, ledger_url)

    assert report.duplicate_client_ids == {
        first.client_order_id: sorted([first.order_id, f"{first.order_id}-twin"])
    }


def test_wait_settled_waits_for_pending_slots_and_a_drained_inbox(
    redis_client: redis_lib.Redis,
) -> None:
    k = keys_for(SYMBOL)
    redis_client.hset(k.slots, "90", slot_json(cid("90", Side.BUY), "", D(90), "PENDING"))
    redis_client.set(k.seq, "3")
    redis_client.hset(k.state, "last_seq", "2")

    busy = wait_settled(redis_client, [SYMBOL], timeout_s=0.5, quiet_s=0.1)

    assert not busy.settled
    assert busy.unsettled == {SYMBOL: "PENDING slots ['90']"}
    redis_client.hset(k.slots, "90", slot_json(cid("90", Side.BUY), "v1", D(90)))
    assert wait_settled(redis_client, [SYMBOL], timeout_s=0.5, quiet_s=0.1).unsettled == {
        SYMBOL: "inbox cursor 2 != seq 3"
    }
    redis_client.hset(k.state, "last_seq", "3")
    assert wait_settled(redis_client, [SYMBOL], timeout_s=5, quiet_s=0.2).settled


def f(trade_id: str, side: str, price: str, qty: str = "1", ts_ms: int = 1) -> Fill:
    return Fill(trade_id, side, D(price), D(qty), D(0), ts_ms)


@pytest.mark.parametrize(
    ("fills", "expected"),
    [
        ([f("T1", "BUY", "90"), f("T2", "SELL", "100")], Folded(D(0), D(0), D(10))),
        ([f("T1", "BUY", "90"), f("T2", "BUY", "80")], Folded(D(2), D(85), D(0))),
        ([f("T1", "SELL", "110"), f("T2", "BUY", "100")], Folded(D(0), D(0), D(10))),
        ([f("T1", "BUY", "90"), f("T2", "SELL", "100", "3")], Folded(D(-2), D(100), D(10))),
        # T10 was made after T9 in the same millisecond: sell first, then buy back.
        ([f("T10", "BUY", "90"), f("T9", "SELL", "100")], Folded(D(0), D(0), D(10))),
    ],
)
def test_the_fold_is_average_cost_in_venue_trade_order(fills: list[Fill], expected: Folded) -> None:
    assert fold(fills) == expected


def test_trade_order_compares_trade_number_runs_as_numbers() -> None:
    later = [f("T10", "BUY", "1"), f("T9", "BUY", "1"), f("T1", "BUY", "1", ts_ms=2)]
    assert [x.trade_id for x in sorted(later, key=trade_order_key)] == ["T9", "T10", "T1"]
