"""The `fleet_risk` row in Postgres: config, state and the peaks that survive restarts.

Callers own the transaction (as in registry.store): a change and its audit row commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mmtasks.domain import FleetState
from mmtasks.risk.config import FleetRiskConfig, parse_fleet_risk
from mmtasks.risk.figures import Peaks


@dataclass(frozen=True)
class FleetRow:
    """The fleet's persisted risk row."""

    config: FleetRiskConfig
    state: FleetState
    set_by_operator: bool
    reason: str
    peaks: Peaks
    version: int


def load(conn: psycopg.Connection[Any], *, for_update: bool = False) -> FleetRow:
    """Return the fleet row (FOR UPDATE when the caller will write it back)."""
    sql = (
        "SELECT config, state, set_by_operator, reason, high_water, day, day_start_equity,"
        " version FROM fleet_risk WHERE id = 1"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql + (" FOR UPDATE" if for_update else "")).fetchone()
        if row is None:  # the migration inserts it; a manual DELETE should not stop risk
            cur.execute("INSERT INTO fleet_risk (id) VALUES (1) ON CONFLICT (id) DO NOTHING")
            row = cur.execute(sql).fetchone()
    assert row is not None
    return FleetRow(
        config=parse_fleet_risk(row["config"] or {}),
        state=FleetState(row["state"]),
        set_by_operator=bool(row["set_by_operator"]),
        reason=row["reason"],
        peaks=Peaks(
            high_water=_dec(row["high_water"]),
            day=row["day"].isoformat() if row["day"] is not None else "",
            day_start_equity=_dec(row["day_start_equity"]),
        ),
        version=int(row["version"]),
    )


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def save_peaks(conn: psycopg.Connection[Any], peaks: Peaks) -> None:
    """Persist the high-water mark and the day's start equity."""
    conn.execute(
        "UPDATE fleet_risk SET high_water = %s, day = %s, day_start_equity = %s,"
        " updated_at = now() WHERE id = 1",
        (peaks.high_water, peaks.day or None, peaks.day_start_equity),
    )


def save_state(
    conn: psycopg.Connection[Any], state: FleetState, set_by_operator: bool, reason: str
) -> None:
    """Persist the fleet state and who set it."""
    conn.execute(
        "UPDATE fleet_risk SET state = %s, set_by_operator = %s, reason = %s,"
        " updated_at = now(), version = version + 1 WHERE id = 1",
        (state.value, set_by_operator, reason[:500]),
    )


def save_config(conn: psycopg.Connection[Any], config: FleetRiskConfig) -> None:
    """Persist a validated config."""
    conn.execute(
        "UPDATE fleet_risk SET config = %s, updated_at = now(), version = version + 1 WHERE id = 1",
        (Jsonb(config.model_dump(mode="json", exclude_none=True)),),
    )
