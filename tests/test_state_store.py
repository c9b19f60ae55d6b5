"""The symbol lock, the fenced Lua commit and the inbox, on real Redis."""

from __future__ import annotations

import os

import pytest
import redis as redis_lib

from mmtasks.errors import LockLostError, OperationalError
from mmtasks.settings import get_settings
from mmtasks.state import wire
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


# -- the step's last commit and its let-go in one call (state/commit_let_go.lua) ------------
# The step's metrics go first in the same round trip; here a script that counts the steps.
_metrics = [wire.Call("return redis.call('HINCRBY', KEYS[1], 'steps', 1)", ["mm:test:metrics"])]


def test_commit_and_let_go_writes_then_releases_the_lock(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "4"})
    batch.events(store.keys.outbox, store.keys.event_seq, [{"type": "grid_settled"}], 100)

    first, answer = store.commit_and_let_go(token, batch, 5000, _metrics)

    assert (first, answer) == (1, 0)  # the first event's seq; released, no wake
    assert redis_client.hget(store.keys.state, "last_seq") == "4"
    assert not redis_client.exists(store.keys.lock)
    assert redis_client.hget("mm:test:metrics", "steps") == "1"


@pytest.mark.parametrize(("wake", "answer"), [("1", 1), ("price", 2)])
def test_commit_and_let_go_keeps_the_lock_for_a_wake_left_while_stepping(
    store: SymbolStore, redis_client: redis_lib.Redis, wake: str, answer: int
) -> None:
    token = store.acquire(1000, wait_s=0)
    assert token
    redis_client.set(store.keys.again, wake)  # take.lua found the lock held
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "5"})

    assert store.commit_and_let_go(token, batch, 8000, _metrics) == (0, answer)

    assert redis_client.hget(store.keys.state, "last_seq") == "5"
    assert redis_client.get(store.keys.lock) == token  # drain again under the same lock
    assert 1000 < redis_client.pttl(store.keys.lock) <= 8000  # for the ttl given
    assert not redis_client.exists(store.keys.again)


def test_commit_and_let_go_with_a_lost_lock_writes_nothing_and_leaves_the_new_holder(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    stale = store.acquire(5000, wait_s=0)
    assert stale
    redis_client.delete(store.keys.lock)
    fresh = store.acquire(5000, wait_s=0)
    assert fresh
    redis_client.set(store.keys.again, "1")  # left for the new holder
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "9"})

    with pytest.raises(LockLostError):
        store.commit_and_let_go(stale, batch, 5000, _metrics)

    assert redis_client.hget(store.keys.state, "last_seq") is None
    assert redis_client.get(store.keys.lock) == fresh
    assert redis_client.get(store.keys.again) == "1"


def test_commit_and_let_go_refused_by_a_cas_keeps_the_lock_for_the_failure_bookkeeping(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    redis_client.hset(store.keys.state, "last_seq", "7")  # moved underneath
    batch = WriteBatch()
    batch.cas(store.keys.state, "last_seq", "6")
    batch.hset(store.keys.state, {"last_seq": "8"})

    with pytest.raises(OperationalError, match="concurrent write"):
        store.commit_and_let_go(token, batch, 5000, _metrics)

    assert redis_client.hget(store.keys.state, "last_seq") == "7"
    assert redis_client.get(store.keys.lock) == token  # record_failure writes with it next


def test_commit_and_let_go_loads_its_script_on_a_server_that_does_not_know_it(
    store: SymbolStore, redis_client: redis_lib.Redis
) -> None:
    token = store.acquire(5000, wait_s=0)
    assert token
    redis_client.script_flush()  # a restarted Redis: the cached sha is unknown there
    batch = WriteBatch()
    batch.hset(store.keys.state, {"last_seq": "2"})

    assert store.commit_and_let_go(token, batch, 5000, _metrics) == (0, 0)

    assert redis_client.hget(store.keys.state, "last_seq") == "2"
    assert not redis_client.exists(store.keys.lock)
    assert (
        redis_client.hget("mm:test:metrics", "steps") == "1"
    )  # once: only the unknown scripts are sent again


def test_lock_tokens_name_their_process_and_never_repeat_in_it_or_in_a_forked_child() -> None:
    import multiprocessing

    from mmtasks.registry.status import lock_holder
    from mmtasks.state.store import new_token

    mine = [new_token() for _ in range(1000)]
    with multiprocessing.get_context("fork").Pool(1) as pool:
        theirs = pool.apply(_tokens, (1000,))

    assert len(set(mine) | set(theirs)) == 2000
    assert {lock_holder(t) for t in mine} == {f"{get_settings().host}:{os.getpid()}"}
    (child,) = {lock_holder(t) for t in theirs}
    assert child != lock_holder(mine[0])  # the child's own pid


def _tokens(n: int) -> list[str]:
    from mmtasks.state.store import new_token

    return [new_token() for _ in range(n)]


def test_threads_drawing_a_processs_first_tokens_together_all_get_whole_distinct_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from mmtasks.state import store

    monkeypatch.setattr(
        store, "_TOKENS", [store._Tokens(-1, "", iter(()))]
    )  # as in a process just started
    start = threading.Barrier(8)
    drawn: list[str] = []

    def draw() -> None:
        start.wait()
        drawn.extend(store.new_token() for _ in range(100))

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(drawn)) == 800
    assert all(t.startswith(f"{get_settings().host}:{os.getpid()}/") for t in drawn)
