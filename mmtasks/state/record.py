"""A symbol's state hash as typed values (`SymbolState`), read in one place.

`mm:{s}:state` holds strings (Redis has no other type); every part that reads it outside the
step's own commit — status, the web collector, the risk engine, beat, the runner, rehydrate,
the audit — turns it into a `SymbolState` here, so a flag is a bool, a cursor an int and a
status an enum everywhere, and a field's spelling lives in one module (the registry's
`SymbolRecord` is the Postgres row, not this). Writes stay with the
step's fenced commit (`state/commit.lua`): this module only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from mmtasks.domain import FleetState
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import SYMBOLS, StateFields, SymbolKeys, keys_for

if TYPE_CHECKING:
    import redis


@dataclass(frozen=True, slots=True)
class Degraded:
    """A temporary fault being retried: since when, how often, when next."""

    since_ms: int
    retry_count: int
    retry_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Recovery:
    """The state's side of recovery (beat's budget lives in `mm:{s}:recovery`)."""

    recovering: bool  # a recover command put the symbol back to ACTIVE; not yet through a step
    give_up: bool  # recovery exhausted: entries cancelled, closing orders kept
    resumes: int  # inits, resumes and resets so far (a new one starts beat's budget again)


@dataclass(frozen=True, slots=True)
class Breaker:
    """The symbol's circuit breaker: tripped (to PAUSED or REDUCING) and what it watches."""

    action: str | None  # None while not tripped
    reason: str
    losing_streak: int
    equity_hwm: Decimal | None


@dataclass(frozen=True, slots=True)
class SymbolState:
    """One symbol's `mm:{s}:state`, typed. `status` is None when the hash has none yet."""

    symbol: str
    status: SymbolStatus | None
    last_seq: int  # the inbox cursor: the last entry a step committed
    anchor: Decimal | None
    reduce_only: bool
    generation_floor: int
    needs_reconcile: bool
    drift_count: int
    rejected_events: int
    last_price: Decimal | None
    last_price_ts_ms: int
    last_step_ms: int
    trades_cursor_ms: int
    last_error: str
    last_error_dependency: str
    error_since_ms: int
    degraded: Degraded | None
    recovery: Recovery
    breaker: Breaker
    fleet_state: FleetState  # the fleet state the symbol's last step acted on

    @property
    def exists(self) -> bool:
        """Whether the symbol has a state at all (a step or a command wrote it)."""
        return self.status is not None

    @classmethod
    def parse(cls, symbol: str, raw: Mapping[Any, Any], *, text: bool = False) -> SymbolState:
        """Return the record of a state hash as Redis gave it (bytes or text); text: the caller
        knows every key and value is text already (a step's snapshot), so it is not checked."""
        texts = text or all(type(k) is str and type(v) is str for k, v in raw.items())
        f = cast(StateFields, raw if texts else {_text(k): _text(v) for k, v in raw.items()})
        since = _int(f.get("degraded_since_ms"))
        return cls(
            symbol=symbol,
            status=_status(f.get("status")),
            last_seq=_int(f.get("last_seq")),
            anchor=_decimal(f.get("anchor")),
            reduce_only=f.get("reduce_only") == "1",
            generation_floor=_int(f.get("generation_floor")),
            needs_reconcile=f.get("needs_reconcile") == "1",
            drift_count=_int(f.get("drift_count")),
            rejected_events=_int(f.get("rejected_events")),
            last_price=_decimal(f.get("last_price")),
            last_price_ts_ms=_int(f.get("last_price_ts_ms")),
            last_step_ms=_int(f.get("last_step_ms")),
            trades_cursor_ms=_int(f.get("trades_cursor_ms")),
            last_error=f.get("last_error", ""),
            last_error_dependency=f.get("last_error_dependency", ""),
            error_since_ms=_int(f.get("error_since_ms")),
            degraded=(
                Degraded(since, _int(f.get("retry_count")), _int(f.get("retry_at_ms")) or None)
                if since
                else None
            ),
            recovery=Recovery(
                recovering=f.get("recovering") == "1",
                give_up=f.get("give_up") == "1",
                resumes=_int(f.get("resumes")),
            ),
            breaker=Breaker(
                action=f.get("breaker") or None,
                reason=f.get("breaker_reason", ""),
                losing_streak=_int(f.get("losing_streak")),
                equity_hwm=_decimal(f.get("equity_hwm")),
            ),
            fleet_state=_fleet(f.get("fleet_state")),
        )


def read_record(client: redis.Redis, symbol: str) -> SymbolState:
    """Return one symbol's record (one round trip)."""
    return SymbolState.parse(symbol, client.hgetall(keys_for(symbol).state))


def in_fleet_set(client: redis.Redis, symbols: Iterable[str]) -> set[str]:
    """Return those of symbols in the fleet set `mm:symbols` (one round trip). A removed
    symbol stays there until its worker has cancelled its orders."""
    names = sorted(symbols)
    member = client.smismember(SYMBOLS, names) if names else []
    return {s for s, inside in zip(names, member, strict=True) if inside}


def read_records(client: redis.Redis, symbols: Iterable[str]) -> dict[str, SymbolState]:
    """Return the records of many symbols in one round trip, by symbol."""
    names = list(symbols)
    pipe = client.pipeline(transaction=False)
    for symbol in names:
        pipe.hgetall(keys_for(symbol).state)
    return {s: SymbolState.parse(s, raw) for s, raw in zip(names, pipe.execute(), strict=True)}


def read_each(
    client: redis.Redis, symbols: Sequence[str], reads: Callable[[Any, SymbolKeys], object]
) -> list[list[Any]]:
    """Return each symbol's answers to `reads`, in one round trip for all symbols.

    reads(pipe, keys) queues the same reads on the pipeline for every symbol, in one order.
    """
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        reads(pipe, keys_for(symbol))
    replies = pipe.execute()
    n = len(replies) // len(symbols) if symbols else 0
    return [replies[i * n : i * n + n] for i in range(len(symbols))]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0  # a field nobody can read counts as unset, as it did in every reader before


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _status(text: str | None) -> SymbolStatus | None:
    if not text:
        return None
    try:
        return SymbolStatus(text)
    except ValueError:
        return SymbolStatus.ERROR  # a status nobody knows must not trade


def _fleet(text: str | None) -> FleetState:
    if not text:
        return FleetState.ACTIVE
    return FleetState(text) if text in FleetState.__members__ else FleetState.HALTED
