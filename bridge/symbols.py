"""Where the bridge learns which symbols to stream: the registry, else Redis and the config.

The registry table `symbol_registry` (status ACTIVE or PAUSED, and REMOVED while the symbol is
still in the Redis set `mm:symbols`: until its worker has cancelled its orders) is the source
once it exists; changes arrive as NOTIFY on channel `mm_registry` and a periodic resync covers
a missed one (and a removed symbol's leaving the set, which notifies nobody).
Without a registry, the symbols are the Redis set `mm:symbols` plus those in the symbols file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import psycopg
import redis
import yaml

from bridge.backoff import Backoff
from mmtasks.domain import SYMBOL_RE
from mmtasks.state.keys import SYMBOLS
from mmtasks.state.record import in_fleet_set

log = logging.getLogger(__name__)

REGISTRY_CHANNEL = "mm_registry"
STREAMED_STATUSES = ("ACTIVE", "PAUSED")  # paused symbols still settle fills and cancels
PG_CONNECT_TIMEOUT_S = 3


class SymbolSourceUnavailable(Exception):
    """The source cannot answer now; keep the symbols we have."""


class SymbolSource(Protocol):
    """Answers which symbols are active, and says when that may have changed."""

    async def load(self) -> frozenset[str]:
        """Return the active symbols or raise SymbolSourceUnavailable."""
        ...

    async def listen(self, changed: asyncio.Event) -> None:
        """Set changed whenever the set may have changed; run until cancelled."""
        ...


def clean_symbols(raw: Iterable[object], origin: str) -> frozenset[str]:
    """Return the well-formed symbols of raw in upper case, logging the others."""
    out = set()
    for value in raw:
        text = value.decode() if isinstance(value, bytes) else str(value)
        if SYMBOL_RE.match(text.upper()):
            out.add(text.upper())
        else:
            log.warning("ignoring symbol %r from %s: expected 2-20 letters or digits", text, origin)
    return frozenset(out)


def config_symbols(path: Path | None) -> frozenset[str]:
    """Return the symbols listed under `symbols:` in a symbols YAML file (none if no file)."""
    if path is None or not path.exists():
        return frozenset()
    data = yaml.safe_load(path.read_text()) or {}
    return clean_symbols((data.get("symbols") or {}).keys(), str(path))


class StaticSymbols:
    """A fixed set given on the command line."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self._symbols = clean_symbols(symbols, "--symbols")

    async def load(self) -> frozenset[str]:
        """Return the fixed set."""
        return self._symbols

    async def listen(self, changed: asyncio.Event) -> None:
        """Never signal: the set does not change."""
        await asyncio.Event().wait()


class FleetSymbols:
    """The registry when its table exists, else Redis `mm:symbols` plus the symbols file."""

    def __init__(self, database_url: str, client: redis.Redis, config_path: Path | None) -> None:
        self._database_url = database_url
        self._redis = client
        self._config_path = config_path
        self.origin = "none"
        self._registry_seen = False

    async def load(self) -> frozenset[str]:
        """Return the active symbols from the registry, or from Redis and the file."""
        try:
            found = await self._registry()
        except (psycopg.Error, OSError) as exc:
            if self._registry_seen:  # a registry outage must not swap in another source
                raise SymbolSourceUnavailable(f"registry unreachable: {exc}") from None
            found = None
        if found is not None:
            self._registry_seen = True
            self.origin = "registry"
            return found
        try:
            members = await asyncio.to_thread(self._redis.smembers, SYMBOLS)
        except redis.RedisError as exc:
            raise SymbolSourceUnavailable(f"redis unreachable: {exc}") from None
        self.origin = "redis"
        return clean_symbols(members, SYMBOLS) | config_symbols(self._config_path)

    async def _registry(self) -> frozenset[str] | None:
        async with await psycopg.AsyncConnection.connect(
            self._database_url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S
        ) as conn:
            cur = await conn.execute("SELECT to_regclass('symbol_registry')")
            row = await cur.fetchone()
            if row is None or row[0] is None:
                return None
            cur = await conn.execute(
                "SELECT symbol, status FROM symbol_registry WHERE status = ANY(%s)",
                ([*STREAMED_STATUSES, "REMOVED"],),
            )
            rows = await cur.fetchall()
        streamed = [symbol for symbol, status in rows if status != "REMOVED"]
        removed = sorted(symbol for symbol, status in rows if status == "REMOVED")
        return clean_symbols([*streamed, *await self._draining(removed)], "symbol_registry")

    async def _draining(self, removed: list[str]) -> list[str]:
        """Return the removed symbols still in the fleet set: some order of theirs may rest,
        and its fills and cancels must reach the worker (it takes them out once none does)."""
        if not removed:
            return []
        try:
            inside = await asyncio.to_thread(in_fleet_set, self._redis, removed)
        except redis.RedisError as exc:
            raise SymbolSourceUnavailable(f"redis unreachable: {exc}") from None
        return sorted(inside)

    async def listen(self, changed: asyncio.Event) -> None:
        """LISTEN on mm_registry and set changed on every notification; reconnect on loss."""
        backoff = Backoff(base_s=1.0, cap_s=30.0)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S
                ) as conn:
                    await conn.execute(f"LISTEN {REGISTRY_CHANNEL}")
                    backoff.reset()
                    changed.set()  # whatever changed while we were not listening
                    async for note in conn.notifies():
                        log.info("registry notification: %s", note.payload)
                        changed.set()
            except (psycopg.Error, OSError) as exc:
                delay_s = backoff.next_delay_s()
                log.debug("registry listen unavailable (%s); retrying in %.1fs", exc, delay_s)
                await asyncio.sleep(delay_s)
