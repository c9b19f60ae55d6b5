"""Indicators over closed candles, kept incrementally with talipp.

Declared by name in the config, the name carrying the parameters and naming the values rules
read: `ema_<n>`, `sma_<n>`, `rsi_<n>`, `atr_<n>` (one value each), `bb_<n>_<k>` (Bollinger
bands over n closes, k population standard deviations: `.upper`, `.middle`, `.lower`) and
`macd_<fast>_<slow>_<signal>` (`.macd`, `.signal`, `.hist`).

talipp computes in float. Values cross into the rest of the pipeline as Decimal (the float's
shortest repr, so a value survives a round trip through its text exactly); they are only ever
compared, or multiplied into a stop distance that is then snapped to the tick, never summed
into money. The bank keeps at most 2 x `nbr_bars` inputs per indicator (it purges the oldest,
keeping more than every indicator's look-back, so talipp never re-seeds), and is rebuilt from
the last `nbr_bars` candles when lost: recursive indicators (EMA, RSI, ATR, MACD) then start
from a fresh seed whose difference decays by (1 - alpha) per candle, below 1e-9 relative after
the >= 20 x period candles `nbr_bars` is required to hold (docs/strategy.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from mmtasks.errors import ValidationError
from mmtasks.grid.models import Candle

Kind = Literal["ema", "sma", "rsi", "atr", "bb", "macd"]
_NAME_RE = re.compile(
    r"^(?:(?P<one>ema|sma|rsi|atr)_(?P<n>[0-9]{1,4})"
    r"|bb_(?P<bn>[0-9]{1,4})_(?P<k>[0-9]{1,2}(?:\.[0-9]{1,3})?)"
    r"|macd_(?P<f>[0-9]{1,4})_(?P<s>[0-9]{1,4})_(?P<g>[0-9]{1,4}))$"
)
OUTPUTS: dict[str, tuple[str, ...]] = {
    "bb": ("upper", "middle", "lower"),
    "macd": ("macd", "signal", "hist"),
}
MAX_PERIOD = 1000
NAME_HELP = "ema_<n>, sma_<n>, rsi_<n>, atr_<n>, bb_<n>_<k> or macd_<fast>_<slow>_<signal>"


@dataclass(frozen=True)
class IndicatorSpec:
    """One declared indicator: its name, kind and periods (macd: fast, slow, signal)."""

    name: str
    kind: Kind
    periods: tuple[int, ...]
    width: Decimal = Decimal(2)  # Bollinger: standard deviations

    @property
    def keys(self) -> tuple[str, ...]:
        """Return the row keys this indicator fills."""
        outputs = OUTPUTS.get(self.kind)
        return (self.name,) if outputs is None else tuple(f"{self.name}.{o}" for o in outputs)

    @property
    def warmup(self) -> int:
        """Return how many closed candles it takes before every value is known."""
        if self.kind == "rsi":
            return self.periods[0] + 1
        if self.kind == "macd":
            return self.periods[1] + self.periods[2] - 1
        return self.periods[0]

    @property
    def lookback(self) -> int:
        """Return the inputs talipp must keep to continue exactly (more than its seed window)."""
        return sum(self.periods) + 2

    @property
    def longest(self) -> int:
        """Return the longest smoothing period (the decay horizon of a rebuilt seed)."""
        return max(self.periods)


def parse_indicator(name: object, where: str = "indicators") -> IndicatorSpec:
    """Return the spec of an indicator name like `ema_9`, or raise ValidationError."""
    match = _NAME_RE.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValidationError(f"{where}: unknown indicator {name!r}; expected {NAME_HELP}")
    assert isinstance(name, str)
    if match["one"]:
        spec = IndicatorSpec(name, match["one"], (int(match["n"]),))  # type: ignore[arg-type]
    elif match["bn"]:
        spec = IndicatorSpec(name, "bb", (int(match["bn"]),), Decimal(match["k"]))
        if spec.width <= 0:
            raise ValidationError(
                f"{where}: {name!r} band width must be > 0, received {match['k']}"
            )
    else:
        fast, slow, signal = int(match["f"]), int(match["s"]), int(match["g"])
        if fast >= slow:
            raise ValidationError(
                f"{where}: {name!r} fast period must be < slow period, received {fast} >= {slow}"
            )
        spec = IndicatorSpec(name, "macd", (fast, slow, signal))
    low = 2 if spec.kind in ("rsi", "bb") else 1
    for period in spec.periods:
        if not low <= period <= MAX_PERIOD:
            raise ValidationError(
                f"{where}: {name!r} periods must be between {low} and {MAX_PERIOD}, "
                f"received {period}"
            )
    return spec


def _talipp(spec: IndicatorSpec) -> Any:
    # Imported here: only a signal strategy's bank needs talipp, and a grid replay starts sooner.
    from talipp.indicators import ATR, BB, EMA, MACD, RSI, SMA

    n = spec.periods[0]
    if spec.kind == "ema":
        return EMA(n)
    if spec.kind == "sma":
        return SMA(n)
    if spec.kind == "rsi":
        return RSI(n)
    if spec.kind == "atr":
        return ATR(n)
    if spec.kind == "bb":
        return BB(n, float(spec.width))
    return MACD(*spec.periods)


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(float(value)))


def _values(spec: IndicatorSpec, out: Any) -> dict[str, Decimal | None]:
    if spec.kind == "bb":
        parts = (None, None, None) if out is None else (out.ub, out.cb, out.lb)
    elif spec.kind == "macd":
        parts = (None, None, None) if out is None else (out.macd, out.signal, out.histogram)
    else:
        return {spec.name: _dec(out)}
    return {key: _dec(v) for key, v in zip(spec.keys, parts, strict=True)}


class IndicatorBank:
    """The talipp indicators of one symbol, fed one closed candle at a time."""

    def __init__(self, specs: Sequence[IndicatorSpec], keep: int) -> None:
        self.specs = tuple(specs)
        self.keep = max(keep, *(s.lookback for s in self.specs), 1) if self.specs else keep
        self._live = [_talipp(s) for s in self.specs]
        self.last_open_ms: int | None = None

    @classmethod
    def rebuilt(
        cls, specs: Sequence[IndicatorSpec], keep: int, candles: Iterable[Candle]
    ) -> IndicatorBank:
        """Return a bank fed with candles (oldest first): the state rebuilt from history."""
        bank = cls(specs, keep)
        for candle in candles:
            bank.add(candle)
        return bank

    def follows(self, candles: Sequence[Candle]) -> bool:
        """Return True when the bank's newest input is the newest of candles (still in step)."""
        newest = candles[-1].open_ms if candles else None
        return self.last_open_ms == newest

    def add(self, candle: Candle) -> None:
        """Feed one closed candle (in place: a deep copy per candle would cost ~20 ms)."""
        from talipp.ohlcv import OHLCV

        close = float(candle.close)
        for spec, ind in zip(self.specs, self._live, strict=True):
            if spec.kind == "atr":
                ind.add(
                    OHLCV(
                        float(candle.open),
                        float(candle.high),
                        float(candle.low),
                        close,
                        float(candle.volume),
                    )
                )
            else:
                ind.add(close)
            if len(ind.input_values) > 2 * self.keep:
                ind.purge_oldest(len(ind.input_values) - self.keep)
        self.last_open_ms = candle.open_ms

    def row(self) -> dict[str, Decimal | None]:
        """Return the newest value of every declared indicator (None while warming up)."""
        out: dict[str, Decimal | None] = {}
        for spec, ind in zip(self.specs, self._live, strict=True):
            out.update(_values(spec, ind[-1] if len(ind) else None))
        return out
