"""The ccxt venue's account and market data: positions, balances, rules, prices, candles, trades."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

from mmtasks.budget import Priority
from mmtasks.domain import parse_symbol, trade_order
from mmtasks.venue.types import (
    Account,
    Balance,
    Kline,
    Position,
    PriceTick,
    SymbolRules,
    Trade,
)
from mmtasks.venues.ccxt.binance import ZERO, d
from mmtasks.venues.ccxt.core import PRIORITY, CcxtCore

log = logging.getLogger(__name__)


class CcxtMarketData(CcxtCore):
    """Account and market data of the venue (read-only calls)."""

    # -- account and market data -------------------------------------------------------------

    def positions(self, symbol: str = "") -> list[Position]:
        """Return positions (flat ones too) of a symbol, or of every symbol served."""
        names = [str(parse_symbol(symbol))] if symbol else self.served()
        for name in names:
            self.unified(name)
        if self.dialect.spot:
            return self._spot_positions(names)
        rows = self._run(self._call(self.exchange.fapiPrivateV3GetPositionRisk()))
        by_symbol = {str(r["symbol"]): r for r in rows}
        out = []
        for name in names:
            raw = by_symbol.get(name, {})
            out.append(
                Position(
                    symbol=name,
                    quantity=d(raw.get("positionAmt")),
                    entry_price=d(raw.get("entryPrice")),
                    realized_pnl=ZERO,  # the venue keeps no per-position realized PnL here
                    unrealized_pnl=d(raw.get("unRealizedProfit")),
                    mark_price=d(raw.get("markPrice")),
                    fees=ZERO,
                )
            )
        return out

    def _spot_positions(self, names: list[str]) -> list[Position]:
        balances = {b.asset: b for b in self.account().balances}
        out = []
        for name in names:
            base = self.exchange.market(self.unified(name))["baseId"]
            held = balances.get(base)
            qty = held.free + held.locked if held else ZERO
            out.append(Position(name, qty, ZERO, ZERO, ZERO, ZERO, ZERO))
        return out

    def account(self) -> Account:
        """Return balances (what the venue reports); PnL totals are the ledger's, not here."""
        raw = self._run(self._call(self.exchange.fetch_balance()))["info"]
        if self.dialect.spot:
            balances = tuple(
                Balance(str(b["asset"]), d(b["free"]), d(b["locked"]))
                for b in raw.get("balances", [])
            )
        else:
            balances = tuple(
                Balance(str(a["asset"]), d(a.get("availableBalance")))
                for a in raw.get("assets", [])
            )
        return Account(balances, ZERO, ZERO)

    def symbol_info(self, symbol: str) -> SymbolRules:
        """Return the trading rules of a symbol from the venue's markets and its fee rates."""
        unified = self.unified(symbol)
        market = self.exchange.market(unified)
        filters = {f["filterType"]: f for f in market["info"].get("filters", [])}
        notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL") or {}
        maker, taker = self._fee_rates(unified)
        return SymbolRules(
            symbol=str(market["id"]),
            base_asset=str(market["baseId"]),
            quote_asset=str(market["quoteId"]),
            tick_size=d(filters.get("PRICE_FILTER", {}).get("tickSize")),
            step_size=d(filters.get("LOT_SIZE", {}).get("stepSize")),
            min_qty=d(filters.get("LOT_SIZE", {}).get("minQty")),
            min_notional=d(notional.get("notional") or notional.get("minNotional")),
            maker_fee_rate=maker,
            taker_fee_rate=taker,
            venue=self.config.exchange_id,
            spot=self.dialect.spot,
            post_only=True,
            reduce_only=not self.dialect.spot,
            client_id_max_len=36,
        )

    async def _prefetch_fees(self) -> None:
        """Ask the account's fee rates once (one symbol: Binance's rates are the account's
        tier, the same for every symbol), so symbol_info needs no round trip."""
        PRIORITY.set(Priority.SETUP)
        served = [self.unified(s) for s in self.served()]
        if served:
            rates = await self._fetch_fee_rates(served[0])
            self._fees.update(dict.fromkeys(served, rates))

    def _fee_rates(self, unified: str) -> tuple[Decimal, Decimal]:
        if unified not in self._fees:
            self._fees[unified] = self._run(self._fetch_fee_rates(unified))
        return self._fees[unified]

    async def _fetch_fee_rates(self, unified: str) -> tuple[Decimal, Decimal]:
        try:
            raw = (await self._call(self.exchange.fetch_trading_fee(unified)))["info"]
            if self.dialect.spot:
                return d(raw["makerCommission"]), d(raw["takerCommission"])
            return d(raw["makerCommissionRate"]), d(raw["takerCommissionRate"])
        except Exception as exc:  # keys without that permission: the market's defaults
            log.warning("fee rates of %s unknown (%s): the market's defaults", unified, exc)
            market = self.exchange.market(unified)
            return Decimal(str(market["maker"])), Decimal(str(market["taker"]))

    def latest_price(self, symbol: str) -> PriceTick:
        """Return the last price of a symbol."""
        unified = self.unified(symbol)
        raw = self._run(self._call(self.exchange.fetch_ticker(unified)))["info"]
        return PriceTick(
            symbol=parse_symbol(symbol),
            price=d(raw["lastPrice"]),
            ts_event_ms=int(raw.get("closeTime") or 0),
            seq=int(raw.get("lastId") or 0),
        )

    def klines(
        self, symbol: str, interval: str = "1m", limit: int = 100, end_ms: int = 0
    ) -> list[Kline]:
        """Return the newest closed candles ending at or before end_ms (0: now), oldest first."""
        market_id = self.exchange.market(self.unified(symbol))["id"]
        request: dict[str, Any] = {
            "symbol": market_id,
            "interval": interval,
            "limit": min(limit + 1, 1500),
        }
        if end_ms:
            request["endTime"] = end_ms
        fetch = (
            self.exchange.publicGetKlines
            if self.dialect.spot
            else self.exchange.fapiPublicGetKlines
        )
        rows = self._run(self._call(fetch(request)))
        now = self._now()
        out = [
            Kline(
                parse_symbol(symbol),
                interval,
                int(r[0]),
                int(r[6]),
                d(r[1]),
                d(r[2]),
                d(r[3]),
                d(r[4]),
                d(r[5]),
                True,
            )
            for r in rows
            if int(r[6]) < (end_ms or now)
        ]
        return out[-limit:]

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> list[Trade]:
        """Return the oldest trades at or after since_ms, oldest first (limit 0: 1000)."""
        names = [str(parse_symbol(symbol))] if symbol else self.served()
        wanted = limit or 1000

        async def fetch() -> list[Trade]:
            out: list[Trade] = []
            for name in names:
                rows = await self._trades_from(self.unified(name), since_ms, min(wanted, 1000))
                out += [self.dialect.trade(r["info"], self._client_ids) for r in rows]
            missing = {t.order_id: t.symbol for t in out if not t.client_order_id}
            for order_id, sym in missing.items():  # fills carry no client id: ask their order
                # A failed look-up raises (temporary, as classified): a trade without its
                # client id is not ours to reconcile, and would be a fill never applied. An
                # order the venue does not know (None) keeps its trades without one: not ours.
                await self._fetch(self.unified(sym), order_id=order_id)
            out = [
                t if t.client_order_id else _trade_with_client_id(t, self._client_ids) for t in out
            ]
            return sorted(out, key=lambda t: trade_order(t.ts_ms, t.trade_id))[:wanted]

        return self._run(fetch())

    async def _trades_from(self, unified: str, since_ms: int, limit: int) -> list[Any]:
        """Return ccxt's rows of the oldest `limit` trades at or after since_ms. Binance
        answers one time window a query (USDⓈ-M 7 days, spot 24 hours): the windows are walked
        forward from since_ms, gathering what each holds, until `limit` rows are gathered (the
        caller asks for the next page from the newest) or now is reached. Without since_ms,
        the venue's newest trades."""
        if not since_ms:
            return list(await self._call(self.exchange.fetch_my_trades(unified, None, limit)))
        window, now = self.dialect.trades_window_ms, self.exchange.milliseconds()
        rows: list[Any] = []
        start = since_ms
        while True:
            end = min(start + window - 1, now)
            asked = limit - len(rows)
            page = await self._call(
                self.exchange.fetch_my_trades(unified, start, asked, {"until": end})
            )
            rows += page
            if len(page) >= asked or end >= now:  # full: this window may hold more
                return rows
            start = end + 1


def _trade_with_client_id(trade: Trade, client_ids: dict[str, str]) -> Trade:
    return replace(trade, client_order_id=client_ids.get(trade.order_id, ""))
