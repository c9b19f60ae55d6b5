"""The faster grid core decides, fills and accounts exactly as the Decimal reference does.

`tests/props/reference_logic.py` is the decision as it was before the core was made faster
(every slot looked at, one pass per question). On random configs, risk limits and price paths:

- through the case model (tests/props/model.py), every decision returns the same actions (and
  the same with the fleet REDUCING, and on a stale price), and the fills, position, realized
  PnL, fees and volume are equal to the last digit (the same decimal text);
- through replay, the fast path on the core (quiet bands, skipped rows, volume-monitor firings)
  gives the same fills, PnL and fees as the plain loop on the reference decision.

50 examples each by default; `make test-props` (HYPOTHESIS_PROFILE=thorough) runs 2,000 each.
"""

from __future__ import annotations

from decimal import Decimal
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from mmtasks.grid.band import FillMode
from mmtasks.grid.config import SymbolRules, parse_grid_config, parse_risk_config
from mmtasks.grid.logic import decide
from mmtasks.grid.models import GridConfig, Market, Position, RiskConfig
from mmtasks.replay import series
from mmtasks.replay.engine import Config
from mmtasks.replay.matcher import Fees
from mmtasks.replay.session import Outcome, replay
from mmtasks.trading import advance
from tests.props import reference_logic
from tests.props.model import GridModel
from tests.props.test_grid_properties import (
    MAKER_FEE,
    TAKER_FEE,
    grid_configs,
    price_paths,
    risk_configs,
)

D = Decimal
STALE_MS = 3_600_000


def _money(position: Position) -> list[str]:
    # The decimal text, not only the value: "equal to the last digit".
    return [
        str(v)
        for v in (
            position.qty,
            position.avg_cost,
            position.realized_pnl,
            position.fees,
            position.volume,
            position.cost_basis,
        )
    ]


def _model(config: GridConfig, risk: RiskConfig, decision: object) -> GridModel:
    return GridModel(
        config,
        risk,
        maker_fee_rate=MAKER_FEE,
        taker_fee_rate=TAKER_FEE,
        decide=decision,  # type: ignore[arg-type]
    )


@given(config=grid_configs(), risk=risk_configs(), path=price_paths())
def test_the_core_decides_fills_and_accounts_as_the_reference(
    config: GridConfig, risk: RiskConfig, path: list[Decimal]
) -> None:
    # Arrange
    core = _model(config, risk, decide)
    reference = _model(config, risk, reference_logic.decide)

    for price in path:
        # Act
        core.step(price)
        reference.step(price)

        # Assert: every decision, then what the reducing fleet and a stale price would decide.
        assert core.evaluations == reference.evaluations
        state, market = core.state, Market(price, core.now_ms)
        for now_ms, reducing in ((core.now_ms, True), (core.now_ms + STALE_MS, False)):
            args = (state, market, config, risk, core.rules, now_ms)
            assert decide(*args, no_new_exposure=reducing) == reference_logic.decide(
                *args, no_new_exposure=reducing
            )
    assert core.fills == reference.fills
    assert core.state == reference.state
    assert _money(core.state.position) == _money(reference.state.position)


RULES = SymbolRules(D("0.01"), D("0.001"), D("0.001"), D(0))


@st.composite
def candle_series(draw: st.DrawFn) -> series.Series:
    """Return up to 150 one-minute candles around 100: small moves, some gaps, volume spikes."""
    cents = draw(st.integers(8_000, 12_000))
    rows: list[tuple[str, str, str, str, str]] = []
    for _ in range(draw(st.integers(2, 150))):
        move = draw(st.one_of(st.integers(-150, 150), st.integers(-1_500, 1_500)))
        close = max(100, cents + move)
        high = max(cents, close) + draw(st.integers(0, 200))
        low = max(50, min(cents, close) - draw(st.integers(0, 200)))
        volume = draw(st.sampled_from(["1", "1", "1", "2", "9"]))
        high_t, low_t = f"{high / 100:.2f}", f"{low / 100:.2f}"
        rows.append((f"{cents / 100:.2f}", high_t, low_t, f"{close / 100:.2f}", volume))
        cents = close
    cols = [[row[k] for row in rows] for k in range(5)]
    return series.candles([k * 60_000 for k in range(len(rows))], *cols)


@st.composite
def replay_configs(draw: st.DrawFn) -> Config:
    strategy = {
        "mode": draw(st.sampled_from(["long", "neutral"])),
        "interval": draw(st.sampled_from(["0.5", "1", "2.5", "4"])),
        "buy_levels": draw(st.integers(1, 6)),
        "sell_levels": draw(st.integers(1, 6)),
        "order_qty": draw(st.sampled_from(["1", "0.3"])),
        "atr_scale": draw(st.sampled_from(["0", "0", "0", "0.5"])),
        "inventory_skew": draw(st.sampled_from(["0", "0", "0", "0.01"])),
    }
    risk: dict[str, object] = {
        "enable_volume_monitor": draw(st.booleans()),
        "average_window": draw(st.sampled_from([3, 5])),
        "max_position": draw(st.sampled_from([None, None, "2", "3.5"])),
        "max_open_orders": draw(st.sampled_from([None, None, None, 3, 8])),
    }
    fill: FillMode = draw(st.sampled_from(["strict", "touch"]))
    return Config(
        "GRIDUSDT", parse_grid_config(strategy), parse_risk_config(risk), RULES, Fees(), fill
    )


def _ledger(out: Outcome) -> tuple[list[tuple[object, ...]], list[str]]:
    fills: list[tuple[object, ...]] = [
        (f.index, f.ts_ms, f.side, str(f.price), str(f.qty), str(f.fee), f.maker, f.closing)
        for f in out.engine.fills
    ]
    fills += [(str(f.realized_pnl), f.client_order_id) for f in out.engine.fills]
    return fills, _money(out.engine.grid.position)


@given(cfg=replay_configs(), data=candle_series())
def test_replay_on_the_core_equals_the_plain_loop_on_the_reference(
    cfg: Config, data: series.Series
) -> None:
    # Arrange: the reference decides in the plain loop (no band, no skipped row, no firing).
    with patch.object(advance, "decide", reference_logic.decide):
        reference = replay(cfg, data, fast=False)

    # Act
    core = replay(cfg, data)

    # Assert
    assert _ledger(core) == _ledger(reference)
    assert core.engine.grid == reference.engine.grid
