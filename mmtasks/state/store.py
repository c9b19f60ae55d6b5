"""Read and write one symbol's Redis state: the lock, the inbox and the fenced commit."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from mmtasks.errors import LockLostError, OperationalError
from mmtasks.state import wire
from mmtasks.state.keys import FLEET, INBOX_MAXLEN, OUTBOX_MAXLEN, SymbolKeys, keys_for

if TYPE_CHECKING:  # redis and the settings load when a store is used: replay needs neither
    import redis


def _lua(name: str) -> str:
    return resources.files("mmtasks.state").joinpath(name).read_text()


OUTBOX_LUA = _lua("outbox.lua")
COMMIT_LUA = OUTBOX_LUA + _lua("commit.lua")
EMIT_LUA = OUTBOX_LUA + _lua("emit.lua")
APPEND_LUA = _lua("append.lua")
LOCK_LUA = _lua("lock.lua")
SNAPSHOT_LIB = _lua("snapshot.lua")  # defines read_snapshot; two scripts call it
SNAPSHOT_LUA = SNAPSHOT_LIB + "return read_snapshot(KEYS, ARGV[1], tonumber(ARGV[2]))\n"
TAKE_LUA = SNAPSHOT_LIB + _lua("take.lua")
LET_GO_LIB = _lua("let_go.lua")  # defines let_go; two scripts call it
LET_GO_LUA = LET_GO_LIB + "return let_go(KEYS[1], KEYS[2], ARGV[1], ARGV[2])\n"
# commit.lua as the function `commit`, then let_go: a step's last write and let-go in one call.
COMMIT_LET_GO_LUA = (
    OUTBOX_LUA
    + LET_GO_LIB
    + "local function commit()\n"
    + _lua("commit.lua")
    + "\nend\n"
    + _lua("commit_let_go.lua")
)
WAKE_KEPT_MS = 60_000  # a wake left for a holder that died meanwhile expires (beat sweeps)


def run_script(client: redis.Redis, text: str, keys: list[str], args: list[Any]) -> Any:
    """Run the Lua script text on client and return its reply (state/wire.py: EVALSHA, sent
    as EVAL where the server does not know it yet); an error reply raises."""
    return wire.run_one(client, wire.Call(text, keys, args))


def new_token() -> str:
    """Return a fresh lock token that names its holder, `<host>:<pid>/<n>` (the host is
    MMTASKS_HOST, else the hostname): status shows which host holds each symbol. n counts up
    from a random 48-bit start drawn once per process (a forked child draws its own): no two
    tokens of a process are alike, nor are a restarted process's like those of the one that
    had its pid before."""
    tokens = _TOKENS[0]
    if tokens.pid != os.getpid():  # the first token of this process (or of a forked child)
        from mmtasks.settings import get_settings

        pid = os.getpid()  # made whole, then published in one assignment: threads race here
        tokens = _Tokens(
            pid, f"{get_settings().host}:{pid}/", itertools.count(secrets.randbits(48))
        )
        _TOKENS[0] = tokens
    return f"{tokens.prefix}{next(tokens.count):012x}"


@dataclass(frozen=True)
class _Tokens:
    pid: int
    prefix: str
    count: Iterator[int]


_TOKENS = [_Tokens(-1, "", itertools.count())]  # one slot: replaced whole, never edited


@dataclass
class WriteBatch:
    """Writes to apply atomically under the symbol's lock (see commit.lua for the ops)."""

    keys: list[str] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)

    def _k(self, key: str) -> int:
        if key not in self.keys:
            self.keys.append(key)
        return self.keys.index(key) + 2  # KEYS[1] is the lock

    def cas(self, key: str, field_name: str, expected: str) -> None:
        self.ops.append({"op": "cas", "k": self._k(key), "f": field_name, "v": expected})

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        if mapping:
            self.ops.append({"op": "hset", "k": self._k(key), "m": mapping})

    def hdel(self, key: str, fields: list[str]) -> None:
        if fields:
            self.ops.append({"op": "hdel", "k": self._k(key), "f": fields})

    def delete(self, key: str) -> None:
        self.ops.append({"op": "del", "k": self._k(key)})

    def rpush(self, key: str, values: list[str]) -> None:
        if values:
            self.ops.append({"op": "rpush", "k": self._k(key), "v": values})

    def sadd(self, key: str, members: list[str]) -> None:
        if members:
            self.ops.append({"op": "sadd", "k": self._k(key), "v": members})

    def xadd(self, key: str, fields: dict[str, str], maxlen: int) -> None:
        self.ops.append({"op": "xadd", "k": self._k(key), "max": maxlen, "m": fields})

    def zadd(self, key: str, scored: dict[str, int], cap: int) -> None:
        """Add members with scores, then keep only the cap highest-scored."""
        if scored:
            flat = [str(x) for member, score in scored.items() for x in (score, member)]
            self.ops.append({"op": "zadd", "k": self._k(key), "v": flat, "cap": cap})

    def events(self, outbox: str, counter: str, events: list[dict[str, str]], maxlen: int) -> None:
        """Append events to outbox, each with the next event_seq of counter."""
        if events:
            flat = [[x for item in e.items() for x in item] for e in events]
            self.ops.append(
                {
                    "op": "events",
                    "k": self._k(outbox),
                    "s": self._k(counter),
                    "max": maxlen,
                    "v": flat,
                }
            )

    def __bool__(self) -> bool:
        return any(op["op"] != "cas" for op in self.ops)


@dataclass(frozen=True)
class Taken:
    """take_or_wake's answer: our token, or the holder's and how long its lock has left, or
    `quiet`: a price wake whose tick changes nothing (no lock taken, no step to run)."""

    token: str | None
    holder: str = ""
    left_ms: int = 0
    quiet: bool = False
    snapshot: Any = None  # with `inbox`: the step's snapshot, read as the lock was taken


def snapshot_keys(k: SymbolKeys) -> list[str]:
    """Return the keys snapshot.lua's read_snapshot reads, in its order."""
    first = [k.state, k.slots, k.position, k.config, k.candles, k.tick, FLEET, k.fills_out]
    return [*first, k.signal, k.health, k.inbox, k.price_pending]


@dataclass(frozen=True)
class InboxEntry:
    seq: int
    payload: str


class SymbolStore:
    """One symbol's keys on one Redis connection."""

    def __init__(self, client: redis.Redis, symbol: str) -> None:
        self.r = client
        self.symbol = symbol
        self.keys: SymbolKeys = keys_for(symbol)

    def _run(self, text: str, keys: list[str], args: list[Any]) -> Any:
        return run_script(self.r, text, keys, args)

    # -- lock -------------------------------------------------------------------------------
    def acquire(self, ttl_ms: int, wait_s: float) -> str | None:
        """Take the symbol lock and return its token, waiting up to wait_s; None if held."""
        token = new_token()
        deadline = time.monotonic() + wait_s
        while True:
            if self.r.set(self.keys.lock, token, nx=True, px=ttl_ms):
                return token
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def take_or_wake(self, ttl_ms: int, *, price: bool = False, inbox: int | None = None) -> Taken:
        """Take the lock (`Taken.token`), or leave a wake for the step holding it (token None,
        with the holder's token and the lock's remaining ttl: the holder may have died).

        Never waits: the holder drains again before it lets go (`let_go`), so what woke this
        call is handled by that step. A price wake (`price`) whose newest tick is inside the
        settled quiet band, with nothing else to do, takes nothing and answers `quiet`, its
        price flag cleared, in the same round trip (state/take.lua says when exactly).
        With `inbox` (a count of entries), a taken lock comes with the step's snapshot
        (`Taken.snapshot`, as load_snapshot reads it: the price flag cleared for a price wake),
        read in that same call.
        """
        token = new_token()
        k = self.keys
        keys = [k.lock, k.again]
        if price or inbox is not None:
            keys += [k.price_pending, k.tick, k.band, k.seq, k.state, k.fills_out]
        args: list[str | int] = [token, ttl_ms, "price" if price else "", WAKE_KEPT_MS]
        if inbox is not None:
            keys += snapshot_keys(k)
            args.append(inbox)
        answer = self._run(TAKE_LUA, keys, args)
        if int(answer[0]) == 1:
            return Taken(token, snapshot=answer[1] if inbox is not None else None)
        if int(answer[0]) == 2:
            return Taken(None, quiet=True)
        return Taken(None, text_of(answer[2]), int(answer[1]))

    def let_go(self, token: str, ttl_ms: int) -> int:
        """Release the lock unless a wake was left meanwhile; return 0 when released, else 1
        (drain again) or 2 (drain again reading the newest price), the lock kept for ttl_ms.
        ttl_ms 0 (a failed step): release in any case; nonzero says a wake was taken."""
        return int(self._run(LET_GO_LUA, [self.keys.lock, self.keys.again], [token, ttl_ms]))

    def let_go_call(self, token: str, ttl_ms: int) -> wire.Call:
        """Return `let_go` as a call to send with other writes (`wire.run`): its reply is
        let_go's answer."""
        return wire.Call(LET_GO_LUA, [self.keys.lock, self.keys.again], [token, ttl_ms])

    def renew(self, token: str, ttl_ms: int) -> None:
        """Extend our lock or raise LockLostError when another owner holds it now."""
        if not self._run(LOCK_LUA, [self.keys.lock], [token, ttl_ms]):
            raise LockLostError(f"lock of {self.symbol} expired or was taken over")

    def release(self, token: str) -> None:
        """Release the lock if we still own it."""
        self._run(LOCK_LUA, [self.keys.lock], [token, "0"])

    # -- writes -----------------------------------------------------------------------------
    def commit(self, token: str, batch: WriteBatch) -> int:
        """Apply batch atomically if we still hold the lock (fencing) and every CAS holds.

        Return the event_seq of the first event the batch appended to the outbox (0: none).
        """
        if not batch:
            return 0
        from redis.exceptions import ResponseError

        try:
            return int(self._run(COMMIT_LUA, [self.keys.lock, *batch.keys], [token, _ops(batch)]))
        except ResponseError as exc:
            raise self._refused(exc) from None

    def commit_and_let_go(
        self, token: str, batch: WriteBatch, ttl_ms: int, first: Sequence[wire.Call]
    ) -> tuple[int, int]:
        """`commit` then `let_go` in one round trip, after the calls `first` (writes whose
        failure is not the step's: its metrics; they are written even when the commit is
        refused). The lock is let go only when the commit wrote. Return (commit's answer,
        let_go's answer)."""
        from redis.exceptions import ResponseError

        keys = [self.keys.lock, *batch.keys, self.keys.again]
        call = wire.Call(COMMIT_LET_GO_LUA, keys, [token, _ops(batch), ttl_ms])
        answer = wire.run(self.r, [*first, call])[-1]
        if isinstance(answer, ResponseError):
            raise self._refused(answer) from None
        if isinstance(answer, Exception):
            raise answer
        return int(answer[0]), int(answer[1])

    def _refused(self, exc: Exception) -> Exception:
        """Return the error a refused commit means (lock lost, concurrent write), else exc."""
        text = str(exc)
        if "LOCK_LOST" in text:
            return LockLostError(f"lock of {self.symbol} lost before commit; nothing written")
        if "CAS_FAILED" in text:
            return OperationalError(f"{self.symbol}: concurrent write detected ({text})")
        return exc

    def emit(self, events: list[dict[str, str]]) -> int:
        """Append events to the outbox outside a step (no lock needed); return the first seq."""
        if not events:
            return 0
        flat = [[x for item in e.items() for x in item] for e in events]
        return int(
            self._run(
                EMIT_LUA,
                [self.keys.outbox, self.keys.event_seq],
                [OUTBOX_MAXLEN, json.dumps(flat, separators=(",", ":"))],
            )
        )

    def append(self, event: dict[str, Any]) -> int:
        """Append an event to the symbol's inbox and return its seq."""
        return int(
            self._run(
                APPEND_LUA,
                [self.keys.seq, self.keys.inbox],
                [INBOX_MAXLEN, json.dumps(event, separators=(",", ":"))],
            )
        )

    # -- reads ------------------------------------------------------------------------------
    def read_inbox(self, after_seq: int, count: int) -> list[InboxEntry]:
        """Return up to count inbox entries with seq > after_seq, in seq order."""
        rows: Any = self.r.xrange(self.keys.inbox, min=f"({after_seq}-0", max="+", count=count)
        return inbox_entries(rows)


def inbox_entries(rows: Any) -> list[InboxEntry]:
    """Return XRANGE rows of an inbox (as redis-py or a script gave them) as entries."""
    out = []
    for entry_id, raw in rows:
        # a script's reply is [field, value, ...]; redis-py's XRANGE a dict
        fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
        payload = fields.get(b"e") or fields.get("e") or ""
        out.append(InboxEntry(_seq_of(entry_id), text_of(payload)))
    return out


def _ops(batch: WriteBatch) -> str:
    return json.dumps(batch.ops)


def text_of(value: bytes | str) -> str:
    """Return a Redis reply's value as text, whichever client (bytes or decoded) read it."""
    return value.decode() if isinstance(value, bytes) else value


def _seq_of(entry_id: bytes | str) -> int:
    """Return the seq of an inbox entry id `<seq>-0`."""
    return int(text_of(entry_id).split("-", 1)[0])
