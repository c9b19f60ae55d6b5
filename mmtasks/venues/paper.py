"""Paper trading on live data: a real venue's market, the simulator's matching engine.

`PaperVenue` is the simulator's `SimVenue` whose prices are the real venue's trades, read through
ccxt's public streams (no keys): orders rest, fill and pay fees exactly as the simulator does
(`--sim`), at the prices the market really trades. It is what a user runs first on a real
market: `python -m mmtasks.connector --venue binanceusdm --paper --symbols BTCUSDT`.
"""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

from mmtasks.decimals import parse_decimal
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.feeds import NoFeed
from mmtasks.sim.models import SimConfig, SimSymbolRules
from mmtasks.sim.runner import FeedRunner
from mmtasks.sim.venue import SimVenue
from mmtasks.venue.types import PriceTick
from mmtasks.venues.ccxt import CcxtConfig, CcxtVenue

log = logging.getLogger(__name__)


class PaperVenue(SimVenue):
    """The simulator's engine, its prices taken from a real venue's public trade stream."""

    def __init__(self, config: CcxtConfig, starting_balance: str = "1000000") -> None:
        self.market_data = CcxtVenue(dataclasses.replace(config, api_key="", secret=""))
        symbols = tuple(self.market_data.served())
        rules: dict[str, SimSymbolRules] = {}
        for symbol in symbols:
            venue_rules = self.market_data.symbol_info(symbol)
            fields = {f.name: getattr(venue_rules, f.name) for f in dataclasses.fields(venue_rules)}
            fields["venue"] = f"{config.exchange_id} (paper)"
            start = self.market_data.latest_price(symbol).price
            rules[symbol] = SimSymbolRules(**fields, start_price=start)
        engine = SimExchange(
            SimConfig(
                symbols=symbols,
                rules=rules,
                starting_balance=parse_decimal(starting_balance, "starting balance"),
            )
        )
        super().__init__(engine)
        # Candles close on time even when the market is quiet: the sim's housekeeping, no feed.
        self.runner = FeedRunner(engine, NoFeed(), 200)
        self.market_data.subscribe("price", self._on_tick, symbols=symbols)
        log.info("paper trading %s on %s's live prices", ",".join(symbols), config.exchange_id)

    def _on_tick(self, tick: PriceTick) -> None:
        if tick.price > 0:
            self.engine.apply_price(tick.symbol, tick.price, tick.volume or Decimal(0))

    def close(self) -> None:
        self.market_data.close()
