"""One writer for a symbol's state: every write to `mm:{s}:state` goes through the fenced commit.

DESIGN.md's promise 4 (a symbol's state changes only under its lock, with the cursor) holds only
while nothing else writes the hash. This reads the source: no Python call that writes a hash,
key or field names the state key, and no Lua script but the fenced commit writes it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mmtasks.state.store import COMMIT_LET_GO_LUA, COMMIT_LUA

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    p for d in ("mmtasks", "bridge") for p in (ROOT / d).rglob("*.py") if "/pb/" not in str(p)
]
WRITES = r"(?:hset|hsetnx|hdel|hincrby|hincrbyfloat|delete|unlink|expire|pexpire|rename|set)"
# A write whose key argument is some symbol's state key (`k.state`, `keys.state`,
# `keys_for(s).state`), on anything but a `batch`: a WriteBatch is what the fenced commit runs.
STATE_WRITE = re.compile(rf"(?<!batch)\.{WRITES}\(\s*(?:[\w.]+|keys_for\([^)]*\))\.state\b")


# A name bound to a state key (`state = keys_for(symbol).state`), then written through.
STATE_ALIAS = re.compile(r"^\s*(\w+) = (?:keys_for\([^)]*\)|[\w.]+)\.state\s*$")


def state_writes(text: str) -> list[tuple[int, str]]:
    """Return (line number, line) of every write to a state key outside a WriteBatch."""
    aliases = {m.group(1) for line in text.splitlines() if (m := STATE_ALIAS.match(line))}
    patterns = [STATE_WRITE] + [re.compile(rf"(?<!batch)\.{WRITES}\(\s*{a}\b") for a in aliases]
    starts = sorted({m.start() for p in patterns for m in p.finditer(text)})  # \s spans lines
    lines = text.splitlines()
    return [(n, lines[n - 1].strip()) for n in (text.count("\n", 0, i) + 1 for i in starts)]


def test_no_python_writes_the_state_hash_outside_the_fenced_commit() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line}"
        for path in SOURCES
        for n, line in state_writes(path.read_text())
    ]
    assert found == []


def test_the_check_finds_the_writes_it_is_meant_to_find() -> None:
    for line in (
        "rt.redis.hset(store.keys.state, mapping=fields)",
        'client.hset(keys_for(symbol).state, "give_up", "1")',
        'pipe.hdel(k.state, "breaker")',
    ):
        assert STATE_WRITE.search(line), line
    for line in ('client.hget(k.state, "status")', "batch.hset(k.state, fields)"):
        assert not STATE_WRITE.search(line), line
    # beat's recovery bookkeeping as it was before it moved to its own key
    before = 'state = keys_for(symbol).state\nrt.redis.hset(state, "give_up", "1")\n'
    assert state_writes(before) == [(2, 'rt.redis.hset(state, "give_up", "1")')]


def test_only_the_fenced_commit_script_writes_the_state_hash() -> None:
    # commit.lua gets the state key among KEYS and writes what the batch says, behind the
    # lock-token check; every other script must not name the state at all.
    scripts = sorted((ROOT / "mmtasks").rglob("*.lua"))
    writers = [
        s.name
        for s in scripts
        if re.search(
            r"mm:\{s\}:state|state\b.*(HSET|HDEL|HINCRBY)|(HSET|HDEL|HINCRBY)[^\n]*state",
            s.read_text(),
        )
    ]
    assert writers == []
    commit = (ROOT / "mmtasks/state/commit.lua").read_text()
    assert "LOCK_LOST" in commit
    # The step's last write with its let-go runs commit.lua as it is, not a copy of it.
    assert commit in COMMIT_LET_GO_LUA and commit in COMMIT_LUA


# A read of single fields of some symbol's state key (`hget(k.state, "status")`, `hmget(...`),
# which bypasses the one parser; `hgetall` of it is fine when the file parses it with SymbolState.
STATE_READ = re.compile(r"\.(?:hget|hmget)\(\s*(?:[\w.]+|keys_for\([^)]*\))\.state\b")
# The step's own snapshot reads the hash (and keeps its text for the fenced diff), and
# persist reads what the failure bookkeeping needs under the step's lock; everyone else parses
# it through state/record.py.
READERS = {"mmtasks/state/record.py", "mmtasks/trading/snapshot.py", "mmtasks/trading/persist.py"}


def test_the_state_hash_is_parsed_in_one_place() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
        for path in SOURCES
        if str(path.relative_to(ROOT)) not in READERS
        for text in [path.read_text()]
        for m in STATE_READ.finditer(text)
    ]
    assert found == []
    # ... and whoever pipelines `hgetall(k.state)` with other reads hands it to SymbolState.
    for path in SOURCES:
        text = path.read_text()
        if str(path.relative_to(ROOT)) in READERS:
            continue
        if re.search(r"\.hgetall\(\s*(?:[\w.]+|keys_for\([^)]*\))\.state\b", text):
            assert "SymbolState" in text, path


def test_the_read_check_finds_the_reads_it_is_meant_to_find() -> None:
    for line in (
        'client.hget(keys_for(s).state, "status")',
        'pipe.hget(k.state, "last_seq")',
        "pipe.hmget(keys.state, FIELDS)",
    ):
        assert STATE_READ.search(line), line
    assert not STATE_READ.search('pipe.hget(k.position, "qty")')
