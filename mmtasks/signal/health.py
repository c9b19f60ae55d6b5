"""Per-stage service lifecycle and health reports, as a pure state machine.

    CREATED -> STARTING -> RUNNING <-> PAUSED
    RUNNING/STARTING -> ERROR -> RECOVERING -> RUNNING      (up to MAX_RESTARTS restarts)
    ERROR with restarts used up -> escalated: the symbol is reconciled and restarted, then ERROR
    any -> STOPPING -> STOPPED

A failing stage is restarted (its state rebuilt) up to three times; the next failure escalates.
A successful run resets the restart count. Time is passed in (`now_ms`), never read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from mmtasks.errors import ValidationError

MAX_RESTARTS = 3
STAGES: tuple[str, ...] = ("data", "indicators", "strategy", "execution")


class ServiceState(StrEnum):
    CREATED = "CREATED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    ERROR = "ERROR"
    RECOVERING = "RECOVERING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


S = ServiceState
ALLOWED: dict[ServiceState, tuple[ServiceState, ...]] = {
    S.CREATED: (S.STARTING, S.STOPPING),
    S.STARTING: (S.RUNNING, S.ERROR, S.STOPPING),
    S.RUNNING: (S.PAUSED, S.ERROR, S.STOPPING),
    S.PAUSED: (S.RUNNING, S.STOPPING),
    S.ERROR: (S.RECOVERING, S.STOPPING),
    S.RECOVERING: (S.RUNNING, S.ERROR, S.STOPPING),
    S.STOPPING: (S.STOPPED,),
    S.STOPPED: (S.STARTING,),
}


@dataclass(frozen=True)
class StageHealth:
    """One stage of one symbol: state, errors, restarts and timing."""

    stage: str
    state: ServiceState = S.CREATED
    error_count: int = 0
    restarts: int = 0
    last_error: str = ""
    last_run_ms: int | None = None
    started_ms: int | None = None
    escalated: bool = False

    def moved(self, to: ServiceState, now_ms: int) -> StageHealth:
        """Return the stage in state `to`, or raise ValidationError for a move the cycle forbids."""
        if to not in ALLOWED[self.state]:
            allowed = ", ".join(ALLOWED[self.state]) or "nothing"
            raise ValidationError(
                f"{self.stage}: cannot go from {self.state} to {to}; allowed: {allowed}"
            )
        started = now_ms if to is S.RUNNING and self.state is not S.PAUSED else self.started_ms
        return replace(self, state=to, started_ms=started)

    def ran(self, now_ms: int) -> StageHealth:
        """Return the stage after a successful run (restarts are forgiven)."""
        stage = self if self.state is S.RUNNING else self.moved(S.RUNNING, now_ms)
        return replace(stage, last_run_ms=now_ms, restarts=0, escalated=False)

    def failed(self, error: str, now_ms: int) -> StageHealth:
        """Return the stage after an error: RECOVERING while restarts remain, else escalated."""
        stage = self.moved(S.ERROR, now_ms)
        stage = replace(stage, error_count=self.error_count + 1, last_error=error)
        if self.restarts >= MAX_RESTARTS:
            return replace(stage, escalated=True)
        return replace(stage.moved(S.RECOVERING, now_ms), restarts=self.restarts + 1)

    def uptime_s(self, now_ms: int) -> float:
        """Return seconds since the stage last entered RUNNING (0 when not running)."""
        if self.state not in (S.RUNNING, S.PAUSED) or self.started_ms is None:
            return 0.0
        return max(now_ms - self.started_ms, 0) / 1000

    def report(self, now_ms: int) -> dict[str, Any]:
        """Return the stage's health as JSON-ready data."""
        return {
            "state": self.state.value,
            "healthy": self.state in (S.RUNNING, S.PAUSED),
            "error_count": self.error_count,
            "restarts": self.restarts,
            "escalated": self.escalated,
            "last_error": self.last_error,
            "last_run_ms": self.last_run_ms,
            "uptime_s": self.uptime_s(now_ms),
        }


def stage_from_json(stage: str, text: str | None) -> StageHealth:
    """Return a stage from its stored JSON (CREATED when nothing is stored)."""
    if not text:
        return StageHealth(stage)
    data = json.loads(text)
    return StageHealth(
        stage=stage,
        state=ServiceState(data["state"]),
        error_count=int(data["error_count"]),
        restarts=int(data["restarts"]),
        last_error=str(data["last_error"]),
        last_run_ms=data["last_run_ms"],
        started_ms=data["started_ms"],
        escalated=bool(data["escalated"]),
    )


def stage_to_json(stage: StageHealth) -> str:
    """Return a stage as the JSON stored per stage (read back by stage_from_json)."""
    fields = {
        "state": stage.state.value,
        "error_count": stage.error_count,
        "restarts": stage.restarts,
        "last_error": stage.last_error,
        "last_run_ms": stage.last_run_ms,
        "started_ms": stage.started_ms,
        "escalated": stage.escalated,
    }
    return json.dumps(fields, separators=(",", ":"))


def new_stages() -> dict[str, StageHealth]:
    """Return the four stages of a symbol, CREATED."""
    return {name: StageHealth(name) for name in STAGES}


def symbol_report(stages: Mapping[str, StageHealth], now_ms: int) -> dict[str, Any]:
    """Return one symbol's health: healthy when every stage is, with the stages' reports."""
    reports = {name: stage.report(now_ms) for name, stage in stages.items()}
    return {
        "healthy": all(r["healthy"] for r in reports.values()),
        "escalated": any(r["escalated"] for r in reports.values()),
        "error_count": sum(r["error_count"] for r in reports.values()),
        "uptime_s": min((r["uptime_s"] for r in reports.values()), default=0.0),
        "stages": reports,
    }


def fleet_report(
    symbols: Mapping[str, Mapping[str, StageHealth]], now_ms: int, started_ms: int
) -> dict[str, Any]:
    """Return the fleet's health: healthy_symbols, total_symbols, uptime, error counts."""
    per = {symbol: symbol_report(stages, now_ms) for symbol, stages in symbols.items()}
    return {
        "healthy_symbols": sum(1 for r in per.values() if r["healthy"]),
        "total_symbols": len(per),
        "uptime_s": max(now_ms - started_ms, 0) / 1000,
        "error_counts": {symbol: r["error_count"] for symbol, r in per.items()},
        "escalated": sorted(s for s, r in per.items() if r["escalated"]),
        "symbols": per,
    }


def started(stages: Sequence[StageHealth], now_ms: int) -> list[StageHealth]:
    """Return stages moved CREATED/STOPPED -> STARTING -> RUNNING."""
    return [s.moved(S.STARTING, now_ms).moved(S.RUNNING, now_ms) for s in stages]
