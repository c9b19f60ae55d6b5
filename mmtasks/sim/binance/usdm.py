"""The USDⓈ-M perpetuals market of the Binance-speaking simulator (`/fapi`): positions,
reduce-only, GTX, leverage brackets, its account."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mmtasks.decimals import canon, is_multiple
from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.errors import bad_request
from mmtasks.sim.binance.markets import ZERO, Market, _flag
from mmtasks.venue.types import SymbolRules


class UsdmMarket(Market):
    """A USDⓈ-M perpetuals account: one-way mode, cross margin, GTX post-only, reduce-only."""

    kind = "usdm"
    trades_window_ms = 7 * 86_400_000  # /fapi/v1/userTrades: 7 days
    maker_tif = "GTX"
    post_only_reject = (
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be "
        "rejected. The order will not be recorded in the order history",
    )
    duplicate = (-4116, "ClientOrderId is duplicated.")
    order_shape = staticmethod(shapes.futures_order)
    trade_shape = staticmethod(shapes.futures_trade)

    def _reduce_only(self, params: Mapping[str, str]) -> bool:
        return _flag(params, "reduceOnly")

    def _check_filters(self, rules: SymbolRules, quantity: Decimal, price: Decimal | None) -> None:
        if quantity <= 0:
            raise bad_request(-4003, "Quantity less than or equal to zero.")
        if not is_multiple(quantity, rules.step_size):
            raise bad_request(-1111, "Precision is over the maximum defined for this asset.")
        if quantity < rules.min_qty:
            raise bad_request(-4004, "Quantity less than minimum quantity.")
        if price is None:
            return
        if price <= 0:
            raise bad_request(-4001, "Price less than 0.")
        if not is_multiple(price, rules.tick_size):
            raise bad_request(-4014, "Price not increased by tick size.")
        if price * quantity < rules.min_notional:
            raise bad_request(
                -4164,
                f"Order's notional must be no smaller than {canon(rules.min_notional)} "
                "(unless you choose reduce only).",
            )

    def positions(self) -> list[dict[str, Any]]:
        now = self.engine.clock()
        return [
            shapes.futures_position(p, self.engine.rules(p.symbol), now)
            for p in self.engine.positions()
        ]

    def account(self) -> dict[str, Any]:
        acct = self.engine.account()
        positions = self.engine.positions()
        unrealized = sum((p.unrealized_pnl for p in positions), ZERO)
        now = self.engine.clock()
        assets = []
        for balance in acct.balances:
            wallet = balance.free
            margin = wallet + unrealized
            assets.append(
                {
                    "asset": balance.asset,
                    "walletBalance": shapes.num(wallet),
                    "unrealizedProfit": shapes.num(unrealized),
                    "marginBalance": shapes.num(margin),
                    "maintMargin": "0",
                    "initialMargin": "0",
                    "positionInitialMargin": "0",
                    "openOrderInitialMargin": "0",
                    "crossWalletBalance": shapes.num(wallet),
                    "crossUnPnl": shapes.num(unrealized),
                    "availableBalance": shapes.num(margin),
                    "maxWithdrawAmount": shapes.num(wallet),
                    "updateTime": now,
                }
            )
        total = sum((b.free for b in acct.balances), ZERO)
        return {
            "totalInitialMargin": "0",
            "totalMaintMargin": "0",
            "totalWalletBalance": shapes.num(total),
            "totalUnrealizedProfit": shapes.num(unrealized),
            "totalMarginBalance": shapes.num(total + unrealized),
            "availableBalance": shapes.num(total + unrealized),
            "maxWithdrawAmount": shapes.num(total),
            "assets": assets,
            "positions": [
                {
                    "symbol": p.symbol,
                    "positionSide": "BOTH",
                    "positionAmt": shapes.num(p.quantity),
                    "unrealizedProfit": shapes.num(p.unrealized_pnl),
                    "notional": shapes.num(p.quantity * p.mark_price),
                    "updateTime": now,
                }
                for p in positions
            ],
        }

    def exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.engine.clock(),
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [
                shapes.futures_symbol(self.engine.rules(s), self.started_ms)
                for s in self.engine.symbols
            ],
        }

    def commission_rate(self, params: Mapping[str, str]) -> dict[str, Any]:
        rules = self.rules(params)
        return {
            "symbol": rules.symbol,
            "makerCommissionRate": shapes.num(rules.maker_fee_rate),
            "takerCommissionRate": shapes.num(rules.taker_fee_rate),
        }
