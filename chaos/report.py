"""The chaos table: one row per scenario, summed over its trials.

Counts come from the invariant check after each trial (the fleet is fresh per scenario, so a
check sees everything since that scenario began): ids, fills and orphans are the largest count
any check of the scenario found; position and PnL mismatches count (trial, symbol) checks that
failed; events are missing plus duplicated, "n/c" while events are not checked yet.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from chaos.scenarios import TrialResult

COLUMNS = [
    "scenario",
    "trials",
    "dup ids",
    "missing fills",
    "extra fills",
    "pos mismatch",
    "pnl mismatch",
    "orphans",
    "stale slots",
    "events miss/dup",
    "anomalies",
    "unsettled",
    "trading again p50/max s",
]


@dataclass
class Row:
    scenario: str
    trials: int
    duplicate_ids: int
    missing_fills: int
    extra_fills: int
    position_mismatches: int
    pnl_mismatches: int
    orphans: int
    stale_slots: int
    events: int | None
    anomalies: int
    unsettled: int
    recovery: list[float]
    never: int

    @property
    def clean(self) -> bool:
        return not (
            self.duplicate_ids
            or self.missing_fills
            or self.extra_fills
            or self.position_mismatches
            or self.pnl_mismatches
            or self.orphans
            or self.stale_slots
            or self.events
            or self.anomalies
            or self.never
        )

    def cells(self) -> list[str]:
        if self.recovery:
            again = f"{statistics.median(self.recovery):.1f}/{max(self.recovery):.1f}"
        else:
            again = "-"
        if self.never:
            again += f" ({self.never} never)"
        return [
            self.scenario,
            str(self.trials),
            str(self.duplicate_ids),
            str(self.missing_fills),
            str(self.extra_fills),
            str(self.position_mismatches),
            str(self.pnl_mismatches),
            str(self.orphans),
            str(self.stale_slots),
            "n/c" if self.events is None else str(self.events),
            str(self.anomalies),
            str(self.unsettled),
            again,
        ]


def summarize(scenario: str, trials: list[TrialResult]) -> Row:
    """Return the table row of one scenario's trials."""
    reports = [r for t in trials for r in t.reports]
    checked = [r for r in reports if r.events_checked]
    recovery = [v for t in trials for v in t.recovery_s.values() if v is not None]
    return Row(
        scenario=scenario,
        trials=len(trials),
        duplicate_ids=max((len(r.duplicate_client_ids) for r in reports), default=0),
        missing_fills=max((len(r.missing_fills) for r in reports), default=0),
        extra_fills=max((len(r.extra_fills) for r in reports), default=0),
        position_mismatches=sum(r.position_mismatch for r in reports),
        pnl_mismatches=sum(r.pnl_mismatch for r in reports),
        orphans=max((len(r.orphan_orders) for r in reports), default=0),
        stale_slots=max((len(r.stale_slots) for r in reports), default=0),
        events=max((r.event_problems for r in checked), default=0) if checked else None,
        anomalies=sum(t.anomalies for t in trials),
        unsettled=sum(not t.settled for t in trials),
        recovery=recovery,
        never=sum(v is None for t in trials for v in t.recovery_s.values()),
    )


def render(rows: list[Row]) -> str:
    """Return the table as aligned text."""
    cells = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    )
