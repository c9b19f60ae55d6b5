"""Configuration of the simulated exchange; its messages are the venue types (`mmtasks.venue`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from mmtasks.venue.types import SymbolRules


@dataclass(frozen=True, slots=True)
class SimSymbolRules(SymbolRules):
    """A symbol's venue rules plus the price the simulated market starts at."""

    start_price: Decimal = Decimal(100)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Configuration of a simulated exchange."""

    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    start_prices: dict[str, Decimal] = field(default_factory=dict)
    rules: dict[str, SimSymbolRules] = field(default_factory=dict)  # overrides built-in rules
    liquidity: Decimal | None = None  # base qty per order per price tick; None: unlimited
    starting_balance: Decimal = Decimal(1_000_000)
    kline_intervals: tuple[str, ...] = ("1s", "1m", "5m", "15m", "1h")
    # History kept for GetTrades and GetOrder (a long-running simulator stays bounded): the
    # newest trades (the oldest half goes when full), and the newest closed orders beside every
    # open one. Reconcile looks back 5 minutes from its newest counted trade; at the default
    # feed 8 symbols make ~50 trades a minute (~500 at 10x), so these keep hours of it.
    max_trades_kept: int = 10_000
    max_orders_kept: int = 10_000
    id_prefix: str | None = None  # None: derived from the start time, unique per run
    numeric_ids: bool = False  # ids as decimal integers (Binance's), unique per run
    # Client order ids the venue accepts: ours (letters and digits) unless a venue's own rule.
    client_order_id_pattern: str = r"^[A-Za-z0-9]{1,32}$"
