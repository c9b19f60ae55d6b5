"""The trades an exchange keeps for GetTrades, searchable by time."""

from __future__ import annotations

from bisect import bisect_left

from mmtasks.venue.types import Trade


class TradeLog:
    """Trades in time order, the newest `max_kept` of them."""

    def __init__(self, max_kept: int) -> None:
        self._max_kept = max(1, max_kept)
        self._trades: list[Trade] = []
        self._ts: list[int] = []  # parallel to _trades, for bisect on time

    def __len__(self) -> int:
        return len(self._trades)

    def append(self, trade: Trade) -> None:
        """Keep a trade; the oldest half goes once the log is full (amortised O(1))."""
        # A clock that stepped back must not break the time order bisect relies on.
        trade_ts = max(trade.ts_ms, self._ts[-1]) if self._ts else trade.ts_ms
        self._trades.append(trade)
        self._ts.append(trade_ts)
        if len(self._trades) > self._max_kept:
            drop = len(self._trades) - self._max_kept // 2
            del self._trades[:drop]
            del self._ts[:drop]

    def since(self, symbol: str, since_ms: int, limit: int) -> list[Trade]:
        """Return the oldest `limit` trades at or after since_ms, of symbol or of all when ''."""
        out: list[Trade] = []
        if limit <= 0:
            return out
        for trade in self._trades[bisect_left(self._ts, since_ms) :]:
            if not symbol or trade.symbol == symbol:
                out.append(trade)
                if len(out) >= limit:
                    break
        return out
