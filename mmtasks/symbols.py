"""Start, command and look at a symbol from outside its worker (admin tasks, runner, tests)."""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from mmtasks.connector.client import ExchangeClient
from mmtasks.enqueue import append_event
from mmtasks.grid.models import SymbolRules, parse_grid_config, parse_risk_config, validate_config
from mmtasks.messages import CommandEvent
from mmtasks.state.keys import SYMBOLS
from mmtasks.trading.snapshot import rules_to_dict


def rules_of(exchange: ExchangeClient, symbol: str) -> SymbolRules:
    """Return the exchange's trading rules of symbol."""
    info = exchange.symbol_info(symbol)
    return SymbolRules(
        tick_size=info.tick_size,
        step_size=info.step_size,
        min_qty=info.min_qty,
        min_notional=info.min_notional,
    )


def init_symbol(
    client: redis.Redis,
    app: Celery,
    exchange: ExchangeClient,
    symbol: str,
    strategy: dict[str, Any],
    risk: dict[str, Any] | None = None,
    issued_by: str = "",
) -> int:
    """Validate configs against the symbol's rules, then send `init` through its inbox."""
    rules = rules_of(exchange, symbol)
    grid_config = parse_grid_config(strategy)
    risk_config = parse_risk_config(risk or {})
    validate_config(grid_config, rules)
    client.sadd(SYMBOLS, symbol)
    return send_command(
        client,
        app,
        symbol,
        "init",
        {
            "strategy": grid_config.model_dump(mode="json"),
            "risk": risk_config.model_dump(mode="json"),
            "rules": rules_to_dict(rules),
        },
        issued_by,
    )


def send_command(
    client: redis.Redis,
    app: Celery,
    symbol: str,
    command: str,
    args: dict[str, Any] | None = None,
    issued_by: str = "",
) -> int:
    """Append a command to the symbol's inbox (ordered with its trading events); return seq."""
    event = CommandEvent(
        symbol=symbol,
        command=command,  # type: ignore[arg-type]
        args=args or {},
        issued_by=issued_by,
    )
    return append_event(client, app, event)
