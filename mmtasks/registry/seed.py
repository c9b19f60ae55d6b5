"""Seed the registry from a YAML file (configs/symbols.yaml): insert missing rows, keep the rest.

The whole file is validated before anything is written, so a typo in one symbol inserts none.
Configs are checked against the grid core's rules here; tick and step sizes need the connector
and are checked when the worker receives `init` (an unfit config moves that symbol to ERROR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.registry import store
from mmtasks.registry.configs import config_json, parse_risk, parse_strategy_config
from mmtasks.registry.requests import ExchangeArg, describe
from mmtasks.registry.store import SymbolRow

ENTRY_TAKES = "an entry takes (exchange, strategy, risk, status)"


class SeedSymbol(BaseModel):
    """One symbol's entry in the seed file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: ExchangeArg = "sim"
    strategy: dict[str, Any]
    risk: dict[str, Any] = Field(default_factory=dict)
    status: Literal["ACTIVE", "PAUSED"] = "ACTIVE"


@dataclass
class SeedReport:
    inserted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def parse_seed(data: object, source: str) -> list[SymbolRow]:
    """Return the rows a seed document describes, or raise ValidationError naming the entry."""
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), dict):
        raise ValidationError(f"{source}: expected a mapping with a 'symbols' mapping at the top")
    rows = []
    for name, entry in data["symbols"].items():
        where = f"{source}: symbols.{name}"
        try:
            symbol = parse_symbol(name)
            spec = SeedSymbol.model_validate(entry)
            strategy, risk = parse_strategy_config(spec.strategy), parse_risk(spec.risk)
        except pydantic.ValidationError as exc:
            raise ValidationError(f"{where}: {describe(exc, ENTRY_TAKES)}") from None
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}") from None
        rows.append(
            SymbolRow(symbol, spec.exchange, config_json(strategy), config_json(risk), spec.status)
        )
    return rows


def load_seed_file(path: Path) -> list[SymbolRow]:
    """Return the rows of a seed YAML file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None
    return parse_seed(data, str(path))


def seed(conn: psycopg.Connection[Any], rows: list[SymbolRow]) -> SeedReport:
    """Insert the rows whose symbol has no registry row yet, with audit rows, in one transaction."""
    report = SeedReport()
    with conn.transaction():
        for row in rows:
            record = store.insert_symbol(conn, row)
            if record is None:
                report.existing.append(row.symbol)
                continue
            store.append_audit(conn, row.symbol, "seed", None, record.to_json(), None)
            report.inserted.append(row.symbol)
    return report
