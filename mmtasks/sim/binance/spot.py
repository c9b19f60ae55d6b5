"""The spot market of the Binance-speaking simulator (`/api/v3`): LIMIT_MAKER, balances as the
position, the account."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mmtasks.decimals import is_multiple
from mmtasks.domain import Side
from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.errors import bad_request
from mmtasks.sim.binance.markets import ZERO, Market
from mmtasks.venue.types import OrderRequest, SymbolRules


class SpotMarket(Market):
    """A spot account: LIMIT_MAKER post-only, no reduce-only, no short selling."""

    kind = "spot"
    trades_window_ms = 86_400_000  # /api/v3/myTrades: 24 hours
    maker_type = "LIMIT_MAKER"
    post_only_reject = (-2010, "Order would immediately match and take.")
    duplicate = (-2010, "Duplicate order sent.")
    insufficient = (-2010, "Account has insufficient balance for requested action.")
    order_shape = staticmethod(shapes.spot_order)
    trade_shape = staticmethod(shapes.spot_trade)

    def _reduce_only(self, params: Mapping[str, str]) -> bool:
        if "reduceOnly" in params:
            raise bad_request(-1106, "Parameter 'reduceOnly' sent when not required.")
        return False

    def _check_filters(self, rules: SymbolRules, quantity: Decimal, price: Decimal | None) -> None:
        if quantity <= 0 or quantity < rules.min_qty or not is_multiple(quantity, rules.step_size):
            raise bad_request(-1013, "Filter failure: LOT_SIZE")
        if price is None:
            return
        if price <= 0 or not is_multiple(price, rules.tick_size):
            raise bad_request(-1013, "Filter failure: PRICE_FILTER")
        if price * quantity < rules.min_notional:
            raise bad_request(-1013, "Filter failure: NOTIONAL")

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Return asset -> (free, locked): cash and holdings, open orders' share locked."""
        engine = self.engine
        with engine.lock:
            cash: dict[str, Decimal] = {b.asset: b.free for b in engine.account().balances}
            held: dict[str, Decimal] = {}
            locked: dict[str, Decimal] = {}
            for p in engine.positions():
                rules = engine.rules(p.symbol)
                # Average cost: what the holdings cost is out of the cash.
                cash[rules.quote_asset] = (
                    cash.get(rules.quote_asset, ZERO) - p.quantity * p.entry_price
                )
                held[rules.base_asset] = held.get(rules.base_asset, ZERO) + p.quantity
            for o in engine.open_orders():
                rules = engine.rules(o.symbol)
                left = o.quantity - o.executed_qty
                asset, amount = (
                    (rules.quote_asset, left * o.price)
                    if o.side is Side.BUY
                    else (rules.base_asset, left)
                )
                locked[asset] = locked.get(asset, ZERO) + amount
        totals = {**held, **cash}
        return {a: (totals[a] - locked.get(a, ZERO), locked.get(a, ZERO)) for a in sorted(totals)}

    def _check_funds(self, request: OrderRequest, last: Decimal) -> None:
        rules = self.engine.rules(request.symbol)
        free = self.balances()
        if request.side is Side.SELL:
            have = free.get(rules.base_asset, (ZERO, ZERO))[0]
            need = request.quantity
        else:
            have = free.get(rules.quote_asset, (ZERO, ZERO))[0]
            need = request.quantity * (request.price if request.price is not None else last)
        if need > have:
            raise bad_request(*self.insufficient)

    def account(self) -> dict[str, Any]:
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "updateTime": self.engine.clock(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": shapes.num(f), "locked": shapes.num(lk)}
                for a, (f, lk) in self.balances().items()
            ],
            "permissions": ["SPOT"],
        }

    def exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.engine.clock(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [shapes.spot_symbol(self.engine.rules(s)) for s in self.engine.symbols],
        }

    def trade_fees(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbols = [self.rules(params).symbol] if params.get("symbol") else self.engine.symbols
        return [
            {
                "symbol": s,
                "makerCommission": shapes.num(self.engine.rules(s).maker_fee_rate),
                "takerCommission": shapes.num(self.engine.rules(s).taker_fee_rate),
            }
            for s in symbols
        ]
