"""The symbol lock, the fenced Lua commit and the inbox, on real Redis."""

from __future__ import annotations

import pytest
import redis as redis_lib

from mmtasks.errors import LockLostError, OperationalError
from mmtasks.state.store import SymbolStore, WriteBatch


@pytest.fixture
def store(redis_client: redis_lib.Redis) -> SymbolStore:
    return SymbolStore(redis_client, "BTCUSDT")


def test_every_key_of_a_symbol_shares_its_hash_tag(store: SymbolStore) -> None:
    k = store.keys
    names = [
        k.lock,
        k.state,
        k.slots,
        k.position,
        k.config,
        k.candles,
        k.inbox,
        k.seq,
        k.tick,
        k.price_pending,
        k.fills_out,
    ]
    assert all("{btcusdt}" in name for name in names)


def test_commit_with_our_token_writes_everything_atomically(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "3", "status": "ACTIVE"})
    batch.rpush(store.keys.fills_out, ["f1", "f2"])

    store.commit(token, batch)

    assert redis_client.hgetall(store.keys.state) == {"last_seq": "3", "status": "ACTIVE"}
    assert redis_client.lrange(store.keys.fills_out, 0, -1) == ["f1", "f2"]


def test_commit_after_the_lock_passed_to_another_worker_writes_nothing(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    stale = store.acquire(5000, wait_s=0)
    assert stale
    redis_client.delete(store.keys.lock)  # our lock expired...
    fresh = store.acquire(5000, wait_s=0)  # ...and another worker took it
    assert fresh and fresh != stale
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "9"})

    with pytest.raises(LockLostError):
        store.commit(stale, batch)
    assert redis_client.hget(store.keys.state, "last_seq") is None


def test_commit_whose_cursor_moved_underneath_writes_nothing(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    redis_client.hset(store.keys.state, "last_seq", "5")
    batch = WriteBatch()
    batch.cas(store.keys.state, "last_seq", "4")
    batch.hset(store.keys.state, {"last_seq": "6", "x": "1"})

    with pytest.raises(OperationalError):
        store.commit(token, batch)
    assert redis_client.hgetall(store.keys.state) == {"last_seq": "5"}


def test_lock_is_exclusive_and_renewal_fails_once_lost(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    assert store.acquire(5000, wait_s=0) is None
    store.renew(token, 5000)
    redis_client.set(store.keys.lock, "someone-else")
    with pytest.raises(LockLostError):
        store.renew(token, 5000)
    store.release(token)  # not ours any more: must not delete it
    assert redis_client.get(store.keys.lock) == "someone-else"


def test_inbox_seq_increases_and_reads_resume_after_the_cursor(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    seqs = [store.append({"kind": "command", "n": i}) for i in range(5)]

    after_two = store.read_inbox(2, count=10)

    assert seqs == [1, 2, 3, 4, 5]
    assert [e.seq for e in after_two] == [3, 4, 5]
    assert redis_client.get(store.keys.seq) == "5"


def test_the_key_header_lists_exactly_the_keys_the_code_defines() -> None:
    import re

    from mmtasks.state import keys as key_module

    documented = set(
        re.findall(r"^\s+(mm:\{s\}:[a-z_]+)\s", key_module.__doc__ or "", flags=re.MULTILINE)
    )
    one = key_module.SymbolKeys("S")  # its keys read mm:{s}:<name>, as the header writes them
    defined = set(one.per_symbol)

    assert documented == defined
