"""A bridge task told to end always ends, whichever loop turn the cancel comes in.

A session ends by cancelling its tasks and waiting for them. A cancel that a wait drops (Python
3.11's asyncio.wait_for does, when it comes just as the awaited thing finishes) leaves the
session waiting for ever: connected, its order stream gone, never reconnecting. Each test sweeps
the cancel over the loop turns after the awaited thing finishes, so the one bad turn is hit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis as redis_lib

from bridge.rejects import RejectCounter
from bridge.service import Bridge, BridgeConfig
from bridge.sink import Sink
from bridge.symbols import StaticSymbols
from mmtasks.celery import app

pytestmark = pytest.mark.timeout(30)
TURNS = range(12)  # from the cancel before the awaited thing finishes to well after
SYMBOL = "BTCUSDT"


class SilentCall:
    """A server stream whose headers come when the stub says, and then nothing."""

    def __init__(self, headers: asyncio.Event) -> None:
        self._headers = headers
        self._cancelled = False

    async def initial_metadata(self) -> tuple[()]:
        await self._headers.wait()
        return ()

    def done(self) -> bool:
        return self._cancelled

    def cancel(self) -> bool:
        self._cancelled = True
        return True

    def __aiter__(self) -> SilentCall:
        return self

    async def __anext__(self) -> Any:
        await asyncio.Event().wait()


class MarketStub:
    """The connector as the market streams see it: each stream opens once `headers` is set."""

    def __init__(self) -> None:
        self.headers = asyncio.Event()
        self.calls: list[SilentCall] = []

    async def GetSymbolInfo(self, request: Any, **kwargs: Any) -> None:
        return None

    def SubscribeKlines(self, request: Any, **kwargs: Any) -> SilentCall:
        return self._call()

    def SubscribePriceBatches(self, request: Any, **kwargs: Any) -> SilentCall:
        return self._call()

    def _call(self) -> SilentCall:
        self.calls.append(SilentCall(self.headers))
        return self.calls[-1]


def quiet_bridge() -> Bridge:
    """Return a bridge on SYMBOL whose sink is never started (these tests write nothing)."""
    rejects = RejectCounter()
    sink = Sink(redis_lib.Redis(), app, rejects)
    bridge = Bridge(BridgeConfig("127.0.0.1:1"), sink, rejects, StaticSymbols([SYMBOL]))
    bridge.active = frozenset({SYMBOL})
    return bridge


async def cancelled_in_time(
    work: Coroutine[Any, Any, None],
    ready: Callable[[], bool],
    finish: Callable[[], None],
    turns: int,
) -> bool:
    """Run work until ready(), finish() what it awaits, cancel it `turns` loop turns later;
    return whether it ended within a second."""
    task = asyncio.create_task(work)
    while not ready():
        await asyncio.sleep(0)
    finish()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    return task.done()


@pytest.mark.parametrize("turns", TURNS)
def test_the_market_streams_end_when_cancelled_as_their_headers_arrive(turns: int) -> None:
    # The session cancels its market task when the order stream fails, which a connector drop
    # does just as the market streams it is opening send their headers.
    async def scenario() -> bool:
        stub = MarketStub()
        return await cancelled_in_time(
            quiet_bridge()._market_streams(stub),  # type: ignore[arg-type]
            ready=lambda: len(stub.calls) == 2,
            finish=stub.headers.set,
            turns=turns,
        )

    assert asyncio.run(scenario()), "the market task went on after its session cancelled it"


@pytest.mark.parametrize("turns", TURNS)
def test_the_symbol_watch_ends_when_cancelled_as_the_registry_signals(turns: int) -> None:
    # bridge.run() stops by cancelling its tasks and waiting for them: a registry change
    # coming with the stop must not keep the symbol watch (and so the bridge) running.
    async def scenario() -> bool:
        bridge = quiet_bridge()
        started = asyncio.Event()

        async def watch() -> None:
            started.set()
            await bridge._watch_symbols()

        return await cancelled_in_time(
            watch(), ready=started.is_set, finish=bridge._resync.set, turns=turns
        )

    assert asyncio.run(scenario()), "the symbol watch went on after the bridge cancelled it"
