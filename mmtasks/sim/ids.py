"""Venue ids of the simulated exchange: unique per run, so a restart never reuses a trade id."""

from __future__ import annotations

DIGITS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base36(n: int) -> str:
    """Return n >= 0 written in base 36 (upper case)."""
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = DIGITS36[r] + out
    return out or "0"


class IdGenerator:
    """Order ids `<prefix>-<n>`, trade ids `<prefix>T<n>`; plain numbers when prefix is ''."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.orders = 0
        self.trades = 0

    def next_order_id(self) -> str:
        """Return a new order id."""
        self.orders += 1
        return f"{self.prefix}-{self.orders}" if self.prefix else str(self.orders)

    def next_trade_id(self) -> str:
        """Return a new trade id."""
        self.trades += 1
        return f"{self.prefix}T{self.trades}"

    def client_order_id(self) -> str:
        """Return a client order id for the last order, for callers that sent none."""
        return f"sim{self.prefix}x{self.orders}"


class NumericIds(IdGenerator):
    """Order and trade ids as decimal integers, as Binance's are (int64, unique per run).

    Each counter starts at the run's start time in ms x 1000, so a restart never reuses an id.
    """

    def __init__(self, start_ms: int) -> None:
        super().__init__("")
        self.base = start_ms * 1000

    def next_order_id(self) -> str:
        self.orders += 1
        return str(self.base + self.orders)

    def next_trade_id(self) -> str:
        self.trades += 1
        return str(self.base + self.trades)

    def client_order_id(self) -> str:
        return f"sim{self.base + self.orders}"
