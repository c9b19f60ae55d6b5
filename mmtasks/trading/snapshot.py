"""Load one symbol's state from Redis into core types, and turn changes into a fenced batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from mmtasks.decimals import canon
from mmtasks.grid.models import (
    Candle,
    GridConfig,
    GridState,
    Position,
    RiskConfig,
    Slot,
    SymbolRules,
)
from mmtasks.signal.config import SignalConfig
from mmtasks.state.codec import (
    SymbolStatus,
    candle_from_json,
    candle_to_json,
    strategy_from_json,
)
from mmtasks.state.keys import StateFields, keys_for, state_fields, state_mapping
from mmtasks.state.record import SymbolState
from mmtasks.state.store import (
    SNAPSHOT_LUA,
    InboxEntry,
    WriteBatch,
    inbox_entries,
    run_script,
    snapshot_keys,
    text_of,
)

T = TypeVar("T")

if TYPE_CHECKING:  # replay imports this module for its types and needs no client
    import redis


@dataclass
class Tick:
    price: Decimal
    ts_event_ms: int
    seq: int


@dataclass
class Snapshot:
    """Everything a step needs about one symbol, read in one round trip."""

    symbol: str
    meta: StateFields
    grid: GridState
    strategy: GridConfig | SignalConfig | None
    risk: RiskConfig
    rules: SymbolRules | None
    candles: dict[int, Candle]
    tick: Tick | None
    fleet_state: str
    config_error: str | None = None
    exchange: str = "sim"  # the venue the symbol trades on (routes its connector)
    fills_buffered: int = 0  # fills in Redis waiting for the ledger when the step started
    raw_slots: dict[str, str] = field(default_factory=dict)
    raw_position: dict[str, str] = field(default_factory=dict)
    raw_candles: dict[str, str] = field(default_factory=dict)
    raw_signal: dict[str, str] = field(default_factory=dict)  # kind signal: mm:{s}:signal
    raw_health: dict[str, str] = field(default_factory=dict)  # kind signal: mm:{s}:health
    inbox: list[InboxEntry] | None = None  # the first entries past the cursor, read with it

    @cached_property
    def record(self) -> SymbolState:
        """The state hash as read, typed (the one reader: state/record.py)."""
        return SymbolState.parse(self.symbol, self.meta, text=True)  # _pairs gave text

    @property
    def last_seq(self) -> int:
        return self.record.last_seq

    @property
    def status(self) -> SymbolStatus:
        if self.record.status is not None:
            return self.record.status
        if self.strategy is None and self.config_error is None:
            return SymbolStatus.UNCONFIGURED
        return SymbolStatus.ACTIVE


def _pairs(flat: list[Any]) -> dict[str, str]:
    """Return a script's HGETALL reply, [field, value, ...], as a dict of text."""
    if flat and type(flat[0]) is bytes:  # a client that does not decode: every item is bytes
        flat = [item.decode() for item in flat]
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def _read(client: redis.Redis, symbol: str, clear_price_pending: bool, inbox_count: int) -> Any:
    keys = snapshot_keys(keys_for(symbol))
    flag = "1" if clear_price_pending else "0"
    return run_script(client, SNAPSHOT_LUA, keys, [flag, inbox_count])


def load_snapshot(
    client: redis.Redis,
    symbol: str,
    *,
    clear_price_pending: bool = False,
    inbox_count: int = 0,
    read: Any = None,
) -> Snapshot:
    """Read a symbol's whole state in one round trip (state/snapshot.lua).

    With clear_price_pending (a price task), the conflation flag is dropped in the same call,
    before the newest tick is read: a tick landing after that sends a new task.
    With inbox_count, the first inbox entries past the cursor come in the same call.
    read: that call's answer when it was made already (store.take_or_wake with `inbox`).
    """
    replies = read if read is not None else _read(client, symbol, clear_price_pending, inbox_count)
    meta, slots_raw, pos_raw = _pairs(replies[0]), _pairs(replies[1]), _pairs(replies[2])
    cfg_raw, candles_raw, tick_raw = _pairs(replies[3]), _pairs(replies[4]), _pairs(replies[5])
    fleet, buffered = text_of(replies[6]), replies[7]
    signal_raw, health_raw = _pairs(replies[8]), _pairs(replies[9])

    strategy, risk, rules, config_error = _configs(symbol, cfg_raw)
    grid = _grid(symbol, meta, slots_raw, pos_raw)
    tick = None
    if tick_raw.get("price"):
        tick = Tick(
            Decimal(tick_raw["price"]),
            int(tick_raw.get("ts_event_ms", 0)),
            int(tick_raw.get("seq", 0)),
        )
    candles = {int(ts): _candle(text) for ts, text in candles_raw.items()}
    fleet_state = fleet or "ACTIVE"
    return Snapshot(
        symbol=symbol,
        meta=state_fields(meta),
        grid=grid,
        strategy=strategy,
        risk=risk,
        rules=rules,
        candles=candles,
        tick=tick,
        fleet_state=fleet_state,
        config_error=config_error,
        exchange=cfg_raw.get("exchange") or "sim",
        fills_buffered=int(buffered),
        raw_slots=slots_raw,
        raw_position=pos_raw,
        raw_candles=candles_raw,
        raw_signal=signal_raw,
        raw_health=health_raw,
        inbox=inbox_entries(replies[10]) if inbox_count else None,
    )


def grid_meta(grid: GridState) -> StateFields:
    """Return the fields of the state hash that the grid itself owns."""
    return {
        "anchor": canon(grid.anchor) if grid.anchor is not None else "",
        "reduce_only": "1" if grid.reduce_only else "0",
        "generation_floor": str(grid.generation_floor),
    }


def slot_json(slot: Slot) -> str:
    return json.dumps(slot.to_dict(), separators=(",", ":"), sort_keys=True)


def slots_text(before: Snapshot, grid: GridState) -> dict[str, str]:
    """Return grid's slots as stored text; a slot the step left alone keeps the text it was read
    from (slots are frozen: an unchanged slot is the very object the snapshot parsed), so a
    commit serializes only the slots the step changed, however many the symbol holds."""
    old, raw = before.grid.slots, before.raw_slots
    out = {}
    for key, slot in grid.slots.items():
        text = raw.get(key) if old.get(key) is slot else None
        out[key] = text if text is not None else slot_json(slot)
    return out


def position_text(before: Snapshot, grid: GridState) -> dict[str, str]:
    """Return grid's position as stored text: the very dict the snapshot read when the step left
    the position alone (it is frozen: unchanged, it is the object the snapshot parsed)."""
    if grid.position is before.grid.position and before.raw_position:
        return before.raw_position
    return grid.position.to_dict()


def candles_text(before: Snapshot, candles: dict[int, Candle]) -> dict[str, str]:
    """Return candles as stored text, reusing the text of each candle read unchanged (the
    snapshot's own text when none changed: most steps apply no candle)."""
    old, raw = before.candles, before.raw_candles
    if len(candles) == len(raw) and all(old.get(ts) is c for ts, c in candles.items()):
        return raw
    out = {}
    for ts, candle in candles.items():
        text = raw.get(str(ts)) if old.get(ts) is candle else None
        out[str(ts)] = text if text is not None else candle_to_json(candle)
    return out


def diff_batch(
    before: Snapshot,
    grid: GridState,
    meta: StateFields,
    candles: dict[int, Candle],
) -> WriteBatch:
    """Return the writes that turn before into (grid, meta, candles), guarded by the cursor."""
    k = keys_for(before.symbol)
    batch = WriteBatch()
    # The cursor doubles as a compare-and-set guard: nobody else advanced it since we read it.
    batch.cas(k.state, "last_seq", before.meta.get("last_seq", ""))
    new_slots = slots_text(before, grid)
    changed = {key: v for key, v in new_slots.items() if before.raw_slots.get(key) != v}
    batch.hset(k.slots, changed)
    batch.hdel(k.slots, [key for key in before.raw_slots if key not in new_slots])
    pos = position_text(before, grid)
    if pos is not before.raw_position:
        batch.hset(k.position, {f: v for f, v in pos.items() if before.raw_position.get(f) != v})
    old = state_mapping(before.meta)
    new = state_mapping(meta) | state_mapping(grid_meta(grid))
    batch.hset(k.state, {f: v for f, v in new.items() if old.get(f) != v})
    new_candles = candles_text(before, candles)
    batch.hset(
        k.candles, {ts: v for ts, v in new_candles.items() if before.raw_candles.get(ts) != v}
    )
    batch.hdel(k.candles, [ts for ts in before.raw_candles if ts not in new_candles])
    return batch


def rebase(
    before: Snapshot, grid: GridState, meta: StateFields, candles: dict[int, Candle]
) -> Snapshot:
    """Return before as it is in Redis once (grid, meta, candles) was committed."""
    return Snapshot(
        symbol=before.symbol,
        meta={**before.meta, **meta, **grid_meta(grid)},
        grid=grid,
        strategy=before.strategy,
        risk=before.risk,
        rules=before.rules,
        candles=dict(candles),
        tick=before.tick,
        fleet_state=before.fleet_state,
        config_error=before.config_error,
        exchange=before.exchange,
        raw_slots=slots_text(before, grid),
        raw_position=position_text(before, grid),
        raw_candles=candles_text(before, candles),
    )


Configs = tuple[GridConfig | SignalConfig | None, RiskConfig, SymbolRules | None, str | None]
_PARSED: dict[tuple[str, str, str, str, str], Configs] = {}
PARSED_KEPT = 4096  # stored config texts kept parsed per process (a few per symbol)


def _configs(symbol: str, cfg_raw: dict[str, str]) -> Configs:
    """Return the stored (strategy, risk, rules) and, when one is unreadable, why.

    Parsed once per stored text: configs are frozen and change only by a command, so a step
    reuses what the last one parsed (the texts are the key, so a change is never missed).
    """
    key = (
        symbol,
        cfg_raw.get("strategy", "\0"),
        cfg_raw.get("risk", ""),
        cfg_raw.get("rules", "\0"),
        cfg_raw.get("version", ""),
    )
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) >= PARSED_KEPT:
            _PARSED.clear()
        found = _PARSED[key] = _parse_configs(symbol, cfg_raw)
    return found


def _parse_configs(symbol: str, cfg_raw: dict[str, str]) -> Configs:
    strategy: GridConfig | SignalConfig | None = None
    risk, rules = RiskConfig(), None
    try:
        if "strategy" in cfg_raw:
            strategy = strategy_from_json(cfg_raw["strategy"])
        if cfg_raw.get("risk"):
            risk = RiskConfig.model_validate(json.loads(cfg_raw["risk"]))
        if "rules" in cfg_raw:
            rules = SymbolRules.from_dict(json.loads(cfg_raw["rules"]))
    except Exception as exc:  # a bad stored config must stop this symbol only, with the reason
        return None, risk, rules, f"stored config of {symbol} is invalid: {exc}"
    return strategy, risk, rules, None


_SLOTS: dict[str, Slot] = {}
# Slot texts kept parsed per process (slots are frozen): about a grid's worth for each of 64
# symbols. Every order changes its slot's text, so a busy fleet fills this quickly; then it
# starts again (each slot parsed once more). A parsed slot costs ~1 KB: this bounds a long-
# running worker (a soak found 65,536 of them, ~70 MB, made its memory climb for half an hour).
SLOTS_KEPT = 8192


def _parsed(cache: dict[str, T], kept: int, text: str, parse: Callable[[str], T]) -> T:
    """Return parse(text), parsed once per text while the cache holds it (cleared when it holds
    `kept`): stored slots and candles are frozen, and most do not change from step to step."""
    value = cache.get(text)
    if value is None:
        if len(cache) >= kept:
            cache.clear()
        value = cache[text] = parse(text)
    return value


def _slot(text: str) -> Slot:
    """Return the slot of a stored slot text (parsed once per text)."""
    return _parsed(_SLOTS, SLOTS_KEPT, text, lambda t: Slot.from_dict(json.loads(t)))


_POSITIONS: dict[tuple[tuple[str, str], ...], Position] = {}
POSITIONS_KEPT = 4096  # a position changes only with a fill: about one text per symbol


def _position(raw: dict[str, str]) -> Position:
    """Return the position of a stored position hash (parsed once per text, as slots are)."""
    key = tuple(raw.items())
    value = _POSITIONS.get(key)
    if value is None:
        if len(_POSITIONS) >= POSITIONS_KEPT:
            _POSITIONS.clear()
        value = _POSITIONS[key] = Position.from_dict(raw)
    return value


_CANDLES: dict[str, Candle] = {}
CANDLES_KEPT = 16_384  # a long-running symbol holds 25 by default (advance.trim_candles)


def _candle(text: str) -> Candle:
    """Return the candle of a stored candle text (parsed once per text: a closed candle's
    text never changes, and a step reads every candle the symbol keeps)."""
    return _parsed(_CANDLES, CANDLES_KEPT, text, candle_from_json)


def _grid(
    symbol: str, meta: dict[str, str], slots_raw: dict[str, str], pos_raw: dict[str, str]
) -> GridState:
    """Return the grid state of the state hash, the slots and the position as Redis holds them."""
    return GridState(
        symbol=symbol,
        anchor=Decimal(meta["anchor"]) if meta.get("anchor") else None,
        slots={key: _slot(text) for key, text in slots_raw.items()},
        position=_position(pos_raw) if pos_raw else Position(),
        reduce_only=meta.get("reduce_only") == "1",
        generation_floor=int(meta.get("generation_floor") or 0),
    )
