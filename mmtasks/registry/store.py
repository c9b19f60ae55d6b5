"""Rows of `symbol_registry` and `registry_audit`: read, write, audit (psycopg 3, one connection).

Callers own the transaction: every writer here takes a connection already inside one, so a
registry change and its audit row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

FLEET_SUBJECT = "*"  # the audit's `symbol` for fleet-wide actions (halt, resume)
# Read as the fields of SymbolRecord, by name.
COLUMNS = (
    "symbol, exchange, strategy_config AS strategy, risk_config AS risk, status, consumer,"
    " version, created_at, updated_at"
)


class RegistryStatus(StrEnum):
    """What the operator wants a symbol to do (the worker's own status lives in Redis)."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    REMOVED = "REMOVED"
    ERROR = "ERROR"


@dataclass(frozen=True)
class SymbolRow:
    """What a writer gives a registry row; the database adds the version and the times."""

    symbol: str
    exchange: str
    strategy: dict[str, Any]
    risk: dict[str, Any]
    status: str = RegistryStatus.ACTIVE
    consumer: str | None = None


@dataclass(frozen=True, kw_only=True)
class SymbolRecord(SymbolRow):
    """One registry row."""

    version: int
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return {
            **asdict(self),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _one(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> SymbolRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql, params).fetchone()
    return SymbolRecord(**row) if row else None


def get_symbol(
    conn: psycopg.Connection[Any], symbol: str, *, lock: bool = False
) -> SymbolRecord | None:
    """Return the row of symbol (locked FOR UPDATE when lock), or None."""
    sql = f"SELECT {COLUMNS} FROM symbol_registry WHERE symbol = %s"
    return _one(conn, sql + (" FOR UPDATE" if lock else ""), (symbol,))


def list_symbols(
    conn: psycopg.Connection[Any], statuses: Collection[str] | None = None
) -> list[SymbolRecord]:
    """Return every row (or those whose status is in statuses), ordered by symbol."""
    sql = f"SELECT {COLUMNS} FROM symbol_registry"
    params: tuple[Any, ...] = ()
    if statuses is not None:
        sql += " WHERE status = ANY(%s)"
        params = (list(statuses),)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql + " ORDER BY symbol", params).fetchall()
    return [SymbolRecord(**row) for row in rows]


# What an insert does to a REMOVED row when told to bring it back: the new configs, status and
# consumer, the next version. A row in any other status is left alone.
_READD = (
    " DO UPDATE SET exchange = EXCLUDED.exchange, strategy_config = EXCLUDED.strategy_config,"
    " risk_config = EXCLUDED.risk_config, status = EXCLUDED.status, consumer = EXCLUDED.consumer,"
    " version = symbol_registry.version + 1, updated_at = now()"
    " WHERE symbol_registry.status = 'REMOVED'"
)


def insert_symbol(
    conn: psycopg.Connection[Any], row: SymbolRow, *, readd: bool = False
) -> SymbolRecord | None:
    """Insert a new row and return it; with readd, bring a REMOVED row back instead. None when
    the symbol already has a row that stays as it is."""
    return _one(
        conn,
        "INSERT INTO symbol_registry (symbol, exchange, strategy_config, risk_config, status,"
        " consumer) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (symbol)"
        f"{_READD if readd else ' DO NOTHING'} RETURNING {COLUMNS}",
        (
            row.symbol,
            row.exchange,
            Jsonb(row.strategy),
            Jsonb(row.risk),
            str(row.status),
            row.consumer,
        ),
    )


def set_status(conn: psycopg.Connection[Any], symbol: str, status: str) -> SymbolRecord:
    """Set the status of an existing row and return the row."""
    record = _one(
        conn,
        "UPDATE symbol_registry SET status = %s, updated_at = now() WHERE symbol = %s"
        f" RETURNING {COLUMNS}",
        (str(status), symbol),
    )
    if record is None:
        raise LookupError(f"symbol {symbol} has no registry row")
    return record


def set_config(
    conn: psycopg.Connection[Any],
    symbol: str,
    strategy: dict[str, Any],
    risk: dict[str, Any],
    expected_version: int,
) -> SymbolRecord | None:
    """Replace the configs and bump the version; None if the row moved on or was removed."""
    return _one(
        conn,
        "UPDATE symbol_registry SET strategy_config = %s, risk_config = %s,"
        " version = version + 1, updated_at = now()"
        " WHERE symbol = %s AND version = %s AND status <> 'REMOVED'"
        f" RETURNING {COLUMNS}",
        (Jsonb(strategy), Jsonb(risk), symbol, expected_version),
    )


def append_audit(
    conn: psycopg.Connection[Any],
    symbol: str,
    action: str,
    old_value: Any,
    new_value: Any,
    task_id: str | None,
) -> None:
    """Append one row to the admin audit log."""
    conn.execute(
        "INSERT INTO registry_audit (symbol, action, old_value, new_value, task_id)"
        " VALUES (%s, %s, %s, %s, %s)",
        (
            symbol,
            action,
            None if old_value is None else Jsonb(old_value),
            None if new_value is None else Jsonb(new_value),
            task_id,
        ),
    )


def audit_rows(conn: psycopg.Connection[Any], symbol: str | None = None) -> list[dict[str, Any]]:
    """Return audit rows (of one symbol, or all), oldest first."""
    sql = "SELECT symbol, action, old_value, new_value, task_id, at FROM registry_audit"
    params: tuple[Any, ...] = ()
    if symbol is not None:
        sql += " WHERE symbol = %s"
        params = (symbol,)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql + " ORDER BY id", params).fetchall()
