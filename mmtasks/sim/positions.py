"""Signed positions with average-cost realized PnL, and the portfolio that books trades."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

from mmtasks.domain import Side
from mmtasks.sim.ledger import TradeLog
from mmtasks.venue.types import Account, Balance, Position, SymbolRules, Trade

ZERO = Decimal(0)


@dataclass(slots=True)
class PositionState:
    """Mutable position: > 0 long, < 0 short; entry_price is the average cost, 0 when flat."""

    symbol: str
    quantity: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    def apply_fill(self, side: Side, quantity: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Apply a fill and return the PnL it realized (fees excluded, they are kept apart)."""
        self.fees += fee
        signed = quantity if side is Side.BUY else -quantity
        held = self.quantity
        if held == 0 or (held > 0) == (signed > 0):
            # Opening or adding: the entry becomes the size-weighted average.
            total = abs(held) + quantity
            self.entry_price = (self.entry_price * abs(held) + price * quantity) / total
            self.quantity = held + signed
            return ZERO
        closing = min(quantity, abs(held))
        pnl = (
            (price - self.entry_price) * closing
            if held > 0
            else (self.entry_price - price) * closing
        )
        self.realized_pnl += pnl
        self.quantity = held + signed
        if self.quantity == 0:
            self.entry_price = ZERO
        elif (self.quantity > 0) != (held > 0):
            # Flipped: the remainder is a new position opened at this fill's price.
            self.entry_price = price
        return pnl

    def snapshot(self, mark_price: Decimal) -> Position:
        """Return the position marked at mark_price."""
        unrealized = (mark_price - self.entry_price) * self.quantity if self.quantity else ZERO
        held = {name: getattr(self, name) for name in _HELD}
        return Position(unrealized_pnl=unrealized, mark_price=mark_price, **held)


# A position's fields the state holds as they are, by their (shared) names.
_HELD = tuple(f.name for f in fields(PositionState))


class Portfolio:
    """Positions of every symbol and the trade log: what fills change. Locked by the engine."""

    def __init__(
        self, rules: Mapping[str, SymbolRules], starting_balance: Decimal, max_trades: int
    ) -> None:
        self._quotes = {s: r.quote_asset for s, r in rules.items()}
        self._starting_balance = starting_balance
        self.positions = {s: PositionState(s) for s in rules}
        self.trades = TradeLog(max_trades)

    def record(self, trade: Trade) -> None:
        """Book a trade: keep it and apply it to its symbol's position."""
        self.trades.append(trade)
        self.positions[trade.symbol].apply_fill(trade.side, trade.quantity, trade.price, trade.fee)

    def account(self) -> Account:
        """Return balances per quote asset (start + realized - fees) and PnL totals."""
        wallets: dict[str, Decimal] = {}
        realized = fees = ZERO
        for name, pos in self.positions.items():
            quote = self._quotes[name]
            wallets.setdefault(quote, self._starting_balance)
            wallets[quote] += pos.realized_pnl - pos.fees
            realized += pos.realized_pnl
            fees += pos.fees
        balances = tuple(Balance(asset, free) for asset, free in sorted(wallets.items()))
        return Account(balances, realized, fees)
