"""The replay picture: price with the fills, equity (gross and net), position, drawdown."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from mmtasks.domain import Side
from mmtasks.replay.report import curve
from mmtasks.replay.session import Outcome

MAX_POINTS = 20_000  # rows drawn per line; longer series are thinned (fills never are)


def plot(outcome: Outcome, path: Path, title: str = "") -> Path:
    """Draw the outcome as a PNG at path and return path."""
    data = outcome.data
    c = curve(outcome)
    step = max(1, len(data) // MAX_POINTS)
    times = (data.ts_ms[::step]).astype("datetime64[ms]")
    fig, axes = plt.subplots(
        4, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1, 1]}
    )
    price_ax, equity_ax, position_ax, dd_ax = axes
    price_ax.plot(times, data.floats("close")[::step], color="#555", lw=0.8, label="close")
    for side, color, marker in ((Side.BUY, "#1a9850", "^"), (Side.SELL, "#d73027", "v")):
        fills = [f for f in outcome.engine.fills if f.side is side]
        if fills:
            price_ax.scatter(
                np.array([f.ts_ms for f in fills]).astype("datetime64[ms]"),
                [float(f.price) for f in fills],
                s=14,
                c=color,
                marker=marker,
                label=f"{side.value.lower()} fills ({len(fills)})",
                zorder=3,
            )
    price_ax.set_ylabel("price")
    price_ax.legend(loc="upper left", fontsize=8)
    equity_ax.plot(times, c.gross[::step], color="#4575b4", lw=1, label="gross (before fees)")
    equity_ax.plot(times, c.net[::step], color="#f46d43", lw=1, label="net of fees")
    equity_ax.axhline(0, color="#999", lw=0.5)
    equity_ax.set_ylabel("PnL")
    equity_ax.legend(loc="upper left", fontsize=8)
    position_ax.fill_between(times, c.qty[::step], step="post", color="#74add1", lw=0)
    position_ax.set_ylabel("position")
    drawdown = c.net - np.maximum.accumulate(c.net)
    dd_ax.fill_between(times, drawdown[::step], color="#d73027", alpha=0.5, lw=0)
    dd_ax.set_ylabel("drawdown")
    locator = dd_ax.xaxis.get_major_locator()
    dd_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"{outcome.engine.config.symbol} replay", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
