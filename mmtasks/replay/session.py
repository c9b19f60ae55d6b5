"""Run one symbol's replay: bind the config and the series, pick the plain or the fast loop."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mmtasks.replay.engine import Config, Engine
from mmtasks.replay.fastforward import run_fast
from mmtasks.replay.loop import Walk, run_plain
from mmtasks.replay.path import PathOrder
from mmtasks.replay.series import Series


@dataclass
class Outcome:
    """A finished replay: the engine (state, fills, marks), its data and how long it took."""

    engine: Engine
    data: Series
    elapsed_s: float


def replay(
    cfg: Config,
    data: Series,
    *,
    order: PathOrder = "auto",
    fast: bool = True,
    confirm_trusted: bool = False,
) -> Outcome:
    """Replay data under cfg and return the outcome (fast skips rows that change nothing;
    confirm_trusted, for tests, still makes the decisions it skips and checks they are empty).

    With a circuit breaker armed, the rows skipped are those where the breaker decides the same
    too (`Engine.breaker_cut`); once it has tripped, those where its decision (reduce-only after
    REDUCING) does (`Engine.deciding_grid`).
    """
    engine = Engine(cfg)
    engine.confirm_trusted = confirm_trusted
    walk = Walk(engine, data, order)
    started = time.perf_counter()
    (run_fast if fast else run_plain)(walk)
    return Outcome(engine, data, time.perf_counter() - started)
