"""Play a price feed into the engine on time and close candles when their interval ends.

Two drivers share one `step()`: a thread (`start()`, for in-process use) and a coroutine
(`run_async()`, used by the connector). On the server's event loop the feed needs no GIL
hand-offs with the stream writers and wakes them without cross-thread signals, which keeps a
fast feed fast while streams are busy.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque

from mmtasks.errors import ValidationError
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.feeds import FeedTick, PriceFeed

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 0.05  # candles close within this of their end, even with the feed paused


class FeedRunner:
    """Play one feed round every interval_ms; pause, resume and retime while running.

    A round's ticks are spread over the interval, one symbol after the other (the k-th of n at
    k/n of it), as a venue's per-symbol streams arrive, instead of every symbol at the same
    instant; `spread=False` plays a round at once (a burst of n ticks: the harder case).
    A price injected while a round is being played (`SimControl.inject_price`) stands: the
    symbol's tick of that round, drawn from the price before, is dropped, and the next round
    walks on from the injected price, as it would after a burst.
    """

    def __init__(
        self, engine: SimExchange, feed: PriceFeed, interval_ms: int = 200, spread: bool = True
    ) -> None:
        if interval_ms < 0:
            raise ValidationError(f"feed interval_ms must be >= 0, received {interval_ms}")
        self.engine = engine
        self.feed = feed
        self.spread = spread
        self.rounds = 0
        # This round's ticks not yet played: when, the tick, the seq of the price it was drawn from.
        self._due: deque[tuple[float, FeedTick, int]] = deque()
        self._interval_s = interval_ms / 1000
        self._paused = False
        self._stopped = False
        self._next_round = time.monotonic()
        self._next_housekeeping = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def paused(self) -> bool:
        """Return True while the feed is paused."""
        return self._paused

    @property
    def interval_ms(self) -> int:
        """Return the time between two rounds in ms."""
        return round(self._interval_s * 1000)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the automatic feed (injected prices still trade)."""
        self._paused = paused
        self._due.clear()  # a paused feed plays nothing more of its round
        self._next_round = time.monotonic()
        self._notify()

    def set_interval(self, interval_ms: int) -> None:
        """Change the time between rounds; takes effect at once."""
        if interval_ms < 0:
            raise ValidationError(f"feed interval_ms must be >= 0, received {interval_ms}")
        self._interval_s = interval_ms / 1000
        self._next_round = time.monotonic()
        self._notify()

    def play_round(self) -> int:
        """Play one round now, every tick at once; return the number of ticks applied."""
        ticks, _ = self._draw()
        for tick in ticks:
            self.engine.apply_price(tick.symbol, tick.price, tick.volume)
        return len(ticks)

    def _draw(self) -> tuple[list[FeedTick], dict[str, int]]:
        """Return the feed's next round from the engine's latest prices, and the seq of each
        symbol's price it was drawn from."""
        latest = self.engine.latest_prices()
        self.rounds += 1
        ticks = self.feed.next_round({t.symbol: t.price for t in latest})
        return ticks, {t.symbol: t.seq for t in latest}

    def _start_round(self, now: float) -> None:
        """Draw the next round and give each tick its time inside the interval."""
        ticks, drawn_from = self._draw()
        gap = self._interval_s / len(ticks) if self.spread and ticks else 0.0
        self._due.extend(
            (now + k * gap, tick, drawn_from.get(tick.symbol, -1)) for k, tick in enumerate(ticks)
        )

    def _play_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _, tick, drawn_from = self._due.popleft()
            if self.engine.latest_price(tick.symbol).seq != drawn_from:
                continue  # a price was injected since the draw: it stands (see the class)
            self.engine.apply_price(tick.symbol, tick.price, tick.volume)

    def step(self) -> float:
        """Do what is due now; return the seconds until something is due again."""
        now = time.monotonic()
        try:
            if not self._paused and now >= self._next_round:
                self._play_due(math.inf)  # the last round's stragglers first, in order
                self._start_round(now)
                # A round late by more than one interval is skipped, not replayed in a burst.
                self._next_round = max(self._next_round + self._interval_s, now)
            self._play_due(now)
            if now >= self._next_housekeeping:
                self.engine.close_due_klines()
                self._next_housekeeping = now + HOUSEKEEPING_S
        except Exception:
            # One bad tick (say, a CSV row off the rules) must not stop the market.
            log.exception("feed round failed")
            self._due.clear()
            self._next_round = now + self._interval_s
        due = self._next_housekeeping if self._paused else self._next_round
        if self._due:
            due = min(due, self._due[0][0])
        return max(0.0, min(due, self._next_housekeeping) - time.monotonic())

    # -- thread driver -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the feed on a daemon thread (it never keeps the process alive)."""
        if self._thread is None:
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="sim-feed", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop either driver; wait for the thread when there is one."""
        self._stopped = True
        self._notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stopped:
            wait = self.step()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
            else:
                time.sleep(0)  # let other threads run when the feed is as fast as possible

    # -- asyncio driver ----------------------------------------------------------------------

    async def run_async(self) -> None:
        """Run the feed on the running event loop until stop().

        Sleeps are bounded by HOUSEKEEPING_S, so pause, retime and stop apply within 50 ms.
        """
        self._stopped = False
        while not self._stopped:
            # sleep(0) when flat out: every stream writer still gets its turn between rounds.
            await asyncio.sleep(self.step())

    def _notify(self) -> None:
        self._wake.set()
