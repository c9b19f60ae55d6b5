"""Replay and backtest: run the live grid core over historical prices, in-process.

The same pure core the workers use (`mmtasks.grid`: `decide`, the slot transitions and the
average-cost accounting) decides here; only the venue is simulated (`venue.py`, GRID.md's fill
model). `engine.py` walks the price path, `fastforward.py` skips the candles that cannot change
anything, `report.py` and `plot.py` describe the result. See docs/replay.md.
"""
