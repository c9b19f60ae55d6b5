"""Commands for one symbol from outside its worker (admin tasks, runner, tests).

Everything that changes a symbol's state goes through its own inbox, so it is ordered with the
symbol's trading events: `init` (config + venue rules), `pause`, `resume`, `update_config`, ...
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import redis
from celery import Celery

from mmtasks.enqueue import TASK_FOR_KIND, wake
from mmtasks.errors import OrderNotFoundError, ValidationError
from mmtasks.grid.models import RiskConfig, SymbolRules
from mmtasks.kinds import StrategyConfig, kind_of
from mmtasks.messages import CommandEvent, dump_event
from mmtasks.registry.configs import parse_risk, parse_strategy_config
from mmtasks.state.keys import SYMBOLS
from mmtasks.state.store import SymbolStore
from mmtasks.venue import Venue
from mmtasks.venue.adapter import grid_rules
from mmtasks.venue.types import SymbolRules as VenueRules

Command = tuple[str, dict[str, Any]]


def rules_of(exchange: Venue, symbol: str) -> SymbolRules:
    """Return the exchange's trading rules of symbol."""
    return grid_rules(exchange.symbol_info(symbol))


def checked_rules(
    exchange: Venue,
    symbol: str,
    strategy: StrategyConfig,
    risk: RiskConfig | None = None,
    venue: str | None = None,
) -> dict[str, str]:
    """Return the symbol's venue rules after checking the configs can trade under them.

    The check is against the rules and the current price (docs/strategy.md, "Bounds"): an
    interval that puts a level at or below zero, an absurd size or limit, a client id that
    could outgrow 32 characters are refused with the field, the value and the bound. A signal
    config's entry size must meet the venue minimums at the current price.
    """
    try:
        venue_rules = exchange.symbol_info(symbol)
    except ValidationError as exc:
        raise ValidationError(f"symbol {symbol} is not tradable at the connector: {exc}") from None
    if venue is not None:
        check_venue(venue_rules, venue)
    check_capabilities(venue_rules, strategy)
    rules = grid_rules(venue_rules)
    kind = kind_of(strategy)
    try:
        kind.validate(strategy, rules)
    except ValidationError as exc:
        raise ValidationError(f"strategy: {exc}") from None
    price = _current_price(exchange, symbol)
    if price is not None:
        errors = kind.trading_errors(strategy, risk or RiskConfig(), rules, price)
        if errors:
            raise ValidationError(f"config cannot trade {symbol}: {'; '.join(errors)}")
    return rules.to_dict()


def check_venue(rules: VenueRules, venue: str) -> None:
    """Refuse a symbol whose connector serves another venue than the one registered."""
    served = rules.venue.split(" ", 1)[0]  # "binanceusdm (paper)" serves binanceusdm
    if served != venue:
        raise ValidationError(
            f"exchange: {rules.symbol} is registered on {venue} but its connector serves "
            f"{rules.venue}; name that venue's connector in MMTASKS_VENUES ({venue}=HOST:PORT) "
            f"or register the symbol with exchange {served}"
        )


def check_capabilities(rules: VenueRules, strategy: StrategyConfig) -> None:
    """Refuse a config the venue's market cannot trade: short inventory on spot."""
    if not rules.spot:
        return
    where = f"{rules.symbol} on {rules.venue} is a spot market (long only, no short position)"
    error = kind_of(strategy).spot_error(strategy, where)
    if error:
        raise ValidationError(error)


def _current_price(exchange: Venue, symbol: str) -> Decimal | None:
    """Return the venue's last price of symbol, or None before its first trade."""
    try:
        price = exchange.latest_price(symbol).price
    except (ValidationError, OrderNotFoundError):
        return None
    return price if price > 0 else None


def init_command(
    exchange: Venue,
    symbol: str,
    strategy: dict[str, Any],
    risk: dict[str, Any],
    venue: str | None = None,
) -> Command:
    """Return the validated `init` command of symbol with its venue rules.

    venue: the registry's `exchange` of the symbol (checked against what the connector
    serves); its steps call that venue's connector. None: the venue the connector serves.
    """
    config, risk_config = parse_strategy_config(strategy), parse_risk(risk)
    rules = checked_rules(exchange, symbol, config, risk_config, venue)
    if venue is None:
        venue = exchange.symbol_info(symbol).venue.split(" ", 1)[0]
    return "init", {
        "strategy": config.model_dump(mode="json"),
        "risk": risk_config.model_dump(mode="json"),
        "rules": rules,
        "exchange": venue,
    }


def send_commands(
    client: redis.Redis, app: Celery, symbol: str, commands: list[Command], issued_by: str = ""
) -> int:
    """Append commands to the symbol's inbox in order, then wake its queue once; return last seq."""
    store = SymbolStore(client, symbol)
    seq = 0
    for name, args in commands:
        event = CommandEvent(
            symbol=symbol,
            command=name,  # type: ignore[arg-type]
            args=args,
            issued_by=issued_by,
        )
        seq = store.append(dump_event(event))
    if commands:
        wake(app, symbol, TASK_FOR_KIND["command"])
    return seq


def init_symbol(
    client: redis.Redis,
    app: Celery,
    exchange: Venue,
    symbol: str,
    strategy: dict[str, Any],
    risk: dict[str, Any] | None = None,
    issued_by: str = "",
) -> int:
    """Validate configs against the symbol's rules, then send `init` through its inbox."""
    command = init_command(exchange, symbol, strategy, risk or {})
    client.sadd(SYMBOLS, symbol)
    return send_commands(client, app, symbol, [command], issued_by)


def send_command(
    client: redis.Redis,
    app: Celery,
    symbol: str,
    command: str,
    args: dict[str, Any] | None = None,
    issued_by: str = "",
) -> int:
    """Append one command to the symbol's inbox and wake it; return its seq."""
    return send_commands(client, app, symbol, [(command, args or {})], issued_by)
