"""The retention sweep on real Redis: trims behind cursors, never past them; removed symbols
purged whole, only under their lock and once nothing is left to move out."""

from __future__ import annotations

import redis as redis_lib

from mmtasks.state.keys import EVENTS, EVENTS_RELAYED, EVENTS_TRIMMED, keys_for
from mmtasks.state.retention import Retention, purge, tag_keys, trim
from mmtasks.state.store import SymbolStore

KEEP = Retention(
    inbox_keep=100, outbox_keep=50, trades_keep_s=600, events_max_len=300, events_max_age_s=60
)
NODE = 100  # a stream trimmed with `~` drops whole nodes: at most this many more stay
NOW_MS = 1_800_000_000_000


def _inbox_seqs(r: redis_lib.Redis, symbol: str) -> list[int]:
    return [int(i.split("-")[0]) for i, _ in r.xrange(keys_for(symbol).inbox)]


def test_the_inbox_is_trimmed_behind_the_cursor_and_never_past_it(
    redis_client: redis_lib.Redis,
) -> None:
    store = SymbolStore(redis_client, "BTCUSDT")
    for n in range(1000):
        store.append({"kind": "order", "n": n})
    redis_client.hset(keys_for("BTCUSDT").state, mapping={"last_seq": "700"})

    trimmed = trim(redis_client, ["BTCUSDT"], KEEP, NOW_MS)

    seqs = _inbox_seqs(redis_client, "BTCUSDT")
    assert seqs[-300:] == list(range(701, 1001))  # nothing past the cursor goes
    assert 601 - NODE <= seqs[0] <= 601  # the newest 100 processed stay, for diagnosis
    assert trimmed.inbox == 1000 - len(seqs) >= 600 - NODE


def test_a_symbol_with_fewer_processed_entries_than_kept_is_not_trimmed(
    redis_client: redis_lib.Redis,
) -> None:
    store = SymbolStore(redis_client, "ETHUSDT")
    for n in range(150):
        store.append({"kind": "order", "n": n})
    redis_client.hset(keys_for("ETHUSDT").state, mapping={"last_seq": "90"})

    assert trim(redis_client, ["ETHUSDT"], KEEP, NOW_MS).inbox == 0
    assert _inbox_seqs(redis_client, "ETHUSDT") == list(range(1, 151))


def test_the_outbox_is_trimmed_behind_the_relay_cursor(redis_client: redis_lib.Redis) -> None:
    store = SymbolStore(redis_client, "BTCUSDT")
    for n in range(5):
        store.emit([{"type": "ORDER_CREATED", "n": str(n * 100 + i)} for i in range(100)])
    redis_client.hset(EVENTS_RELAYED, "BTCUSDT", 400)

    trim(redis_client, ["BTCUSDT"], KEEP, NOW_MS)

    ids = [int(i.split("-")[0]) for i, _ in redis_client.xrange(keys_for("BTCUSDT").outbox)]
    assert ids[-100:] == list(range(401, 501))  # not relayed yet: all kept
    assert 351 - NODE <= ids[0] <= 351


def test_counted_trades_older_than_the_window_behind_the_newest_go(
    redis_client: redis_lib.Redis,
) -> None:
    k = keys_for("BTCUSDT")
    newest = NOW_MS
    scores = {f"T{i}": newest - i * 60_000 for i in range(20)}  # one a minute, 20 minutes back
    redis_client.zadd(k.trades, scores)
    redis_client.hset(k.state, mapping={"trades_cursor_ms": str(newest)})

    assert trim(redis_client, ["BTCUSDT"], KEEP, NOW_MS).trades == 9  # T11..T19: > 10 min old
    assert sorted(redis_client.zrange(k.trades, 0, -1), key=lambda t: int(t[1:])) == [
        f"T{i}" for i in range(11)
    ]


def test_the_event_stream_is_kept_by_count_and_by_age(redis_client: redis_lib.Redis) -> None:
    old, recent = NOW_MS - 120_000, NOW_MS - 10_000
    for i in range(400):  # 400 events two minutes old, then 200 ten seconds old
        redis_client.xadd(EVENTS, {"n": str(i)}, id=f"{old}-{i}")
    for i in range(200):
        redis_client.xadd(EVENTS, {"n": str(400 + i)}, id=f"{recent}-{i}")

    trim(redis_client, [], KEEP, NOW_MS)

    left = redis_client.xrange(EVENTS)
    assert left[-1][1]["n"] == "599"
    # count 300 keeps the newest 300 (and a node's worth more); age 60 s then drops the rest
    # of the old ones but for the node they share with the first recent one.
    assert 200 <= len(left) <= 200 + NODE
    assert all(int(i.split("-")[0]) >= old for i, _ in left)
    assert redis_client.get(EVENTS_TRIMMED) == left[0][0]  # whole from here: the checker's start


def _seed_symbol(r: redis_lib.Redis, symbol: str) -> None:
    store = SymbolStore(r, symbol)
    store.append({"kind": "order"})
    store.emit([{"type": "SYMBOL_REMOVED"}])
    k = keys_for(symbol)
    r.hset(k.state, mapping={"status": "REMOVED", "last_seq": "1"})
    r.hset(k.position, mapping={"qty": "0"})
    r.hset(f"{k.metrics}:29000000", mapping={"steps": "1"})
    r.hset(EVENTS_RELAYED, symbol, 1)


def test_purge_deletes_every_key_of_the_symbol_tag_and_nothing_else(
    redis_client: redis_lib.Redis,
) -> None:
    _seed_symbol(redis_client, "BTCUSDT")
    _seed_symbol(redis_client, "ETHUSDT")
    before = len(tag_keys(redis_client, "BTCUSDT"))

    assert purge(redis_client, "BTCUSDT", lambda: True) == before
    assert tag_keys(redis_client, "BTCUSDT") == []
    assert redis_client.hget(EVENTS_RELAYED, "BTCUSDT") is None
    assert len(tag_keys(redis_client, "ETHUSDT")) == before  # the neighbour keeps all of its own
    assert redis_client.hget(EVENTS_RELAYED, "ETHUSDT") == "1"


def test_purge_waits_for_a_step_holding_the_lock_and_for_ready(
    redis_client: redis_lib.Redis,
) -> None:
    _seed_symbol(redis_client, "BTCUSDT")
    before = sorted(tag_keys(redis_client, "BTCUSDT"))
    k = keys_for("BTCUSDT")
    redis_client.set(k.lock, "a-step", px=10_000)

    assert purge(redis_client, "BTCUSDT", lambda: True) is None  # a step runs: not now
    assert redis_client.get(k.lock) == "a-step"
    redis_client.delete(k.lock)
    assert purge(redis_client, "BTCUSDT", lambda: False) is None  # fills or events left
    assert sorted(tag_keys(redis_client, "BTCUSDT")) == before
    assert redis_client.exists(k.lock) == 0  # the lock it took is gone again
