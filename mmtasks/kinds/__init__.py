"""Strategy kinds: the table of every kind mmtasks trades, behind one port (`kinds/port.py`).

    kind_named("grid")          the kind of that name (ValidationError names the known ones)
    kind_of_raw({"kind": ...})  the kind a raw config asks for ("grid" when it names none)
    kind_of(config)             the kind of a parsed config

Adding a kind: write its pure core as a package (as `grid/` and `signal/` are), an adapter
implementing `StrategyKind` in this package, and one line in `KINDS` below; then its decision
in the worker (a line in `trading/advance.py`'s `DECISIONS`, and in `trading/step.py`'s `SHELLS`
when the shell must build it). docs/strategy.md, "Adding a kind".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmtasks.errors import ValidationError
from mmtasks.kinds.grid import GridKind
from mmtasks.kinds.port import StrategyConfig, StrategyKind
from mmtasks.kinds.signal import SignalKind

KINDS: dict[str, StrategyKind] = {kind.name: kind for kind in (GridKind(), SignalKind())}

__all__ = ["KINDS", "StrategyConfig", "StrategyKind", "kind_named", "kind_of", "kind_of_raw"]


def kind_named(name: object) -> StrategyKind:
    """Return the kind of that name, or raise ValidationError naming the kinds there are."""
    kind = KINDS.get(str(name)) if isinstance(name, str) else None
    if kind is None:
        known = " or ".join(repr(k) for k in KINDS)
        raise ValidationError(f"strategy: kind must be {known}, received {name!r}")
    return kind


def kind_of_raw(raw: Mapping[str, Any]) -> StrategyKind:
    """Return the kind a raw config names (`grid` when it names none)."""
    return kind_named(raw.get("kind", "grid"))


def kind_of(config: object) -> StrategyKind:
    """Return the kind of a parsed config."""
    for kind in KINDS.values():
        if kind.owns(config):
            return kind
    raise TypeError(f"not a strategy config of any kind: {type(config).__name__}")
