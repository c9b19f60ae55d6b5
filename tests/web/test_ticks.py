"""The price ticks every dashboard feed of a web process shares (web/ticks.py), on real Redis.

Counted with Redis's own MONITOR: what reaches the server, not what the board says it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from decimal import Decimal

import pytest
import redis as redis_lib
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mmtasks.grid.models import Candle
from mmtasks.state.codec import candle_to_json
from mmtasks.state.keys import keys_for
from mmtasks.web.ticks import TickBoard

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
FOREVER_S = 3600.0  # a max age no test outlives: every read after the first is counted


def symbols(n: int) -> list[str]:
    """Return n symbols no other test (or test process) writes."""
    tag = uuid.uuid4().hex[:8].upper()
    return [f"TB{tag}{chr(65 + i)}USDT" for i in range(n)]


def write_tick(client: redis_lib.Redis, symbol: str, price: str, ts: int) -> None:
    client.hset(keys_for(symbol).tick, mapping={"price": price, "ts_event_ms": str(ts)})


def two_ticking(client: redis_lib.Redis) -> list[str]:
    """Return two fresh symbols, their ticks written: price 1 at time 1 and price 2 at time 2."""
    a, b = symbols(2)
    write_tick(client, a, "1", 1)
    write_tick(client, b, "2", 2)
    return [a, b]


@pytest.fixture
def client(redis_client: redis_lib.Redis) -> redis_lib.Redis:
    """The test's Redis database, as the worker writes it."""
    return redis_client


@contextlib.asynccontextmanager
async def board_on(redis_url: str, max_age_s: float) -> AsyncIterator[TickBoard]:
    """Yield a board on its own async client of the test's database, closed after."""
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield TickBoard(r, max_age_s)
    finally:
        await r.aclose()


def candle(open_ms: int, close: str) -> str:
    """Return a stored forming candle whose prices are all close."""
    price = Decimal(close)
    return candle_to_json(Candle(open_ms, price, price, price, price, Decimal(1), False))


def reads(client: redis_lib.Redis, command: str, keys: set[str], action: object) -> int:
    """Return how many times the server ran command on one of keys while action ran."""
    marker = f"end-{uuid.uuid4().hex}"
    with client.monitor() as monitor:
        asyncio.run(action)  # type: ignore[arg-type]
        client.echo(marker)
        count = 0
        while True:
            seen = str(monitor.next_command()["command"])
            if marker in seen:
                return count
            words = seen.split(" ")
            count += words[0].upper() == command and words[1] in keys


def test_feeds_asking_at_once_share_one_read_and_later_asks_take_it_while_fresh(
    redis_url: str, client: redis_lib.Redis
) -> None:
    names = symbols(3)
    for i, symbol in enumerate(names):
        write_tick(client, symbol, f"10{i}.5", 1_700_000_000_000 + i)
    expected = {s: (f"10{i}.5", str(1_700_000_000_000 + i)) for i, s in enumerate(names)}
    got: list[dict[str, tuple[str | None, str | None]]] = []

    async def fifty_feeds() -> None:
        async with board_on(redis_url, FOREVER_S) as board:
            got.extend(await asyncio.gather(*(board.ticks(names) for _ in range(50))))
            got.extend(await asyncio.gather(*(board.ticks(names) for _ in range(50))))

    ticks = {keys_for(s).tick for s in names}
    assert reads(client, "HMGET", ticks, fifty_feeds()) == 3  # one HMGET a symbol, once
    assert got == [expected] * 100


def test_a_symbol_first_asked_for_after_the_read_is_read_then(
    redis_url: str, client: redis_lib.Redis
) -> None:
    a, b = two_ticking(client)

    async def body() -> None:
        async with board_on(redis_url, FOREVER_S) as board:
            assert await board.ticks([a]) == {a: ("1", "1")}
            assert await board.ticks([a, b]) == {a: ("1", "1"), b: ("2", "2")}

    asyncio.run(body())


def test_past_the_max_age_each_ask_sees_the_newest_tick(
    redis_url: str, client: redis_lib.Redis
) -> None:
    (name,) = symbols(1)

    async def body() -> None:
        async with board_on(redis_url, 0.0) as board:
            assert await board.ticks([name]) == {name: (None, None)}  # no tick yet
            write_tick(client, name, "100.1", 10)
            assert await board.ticks([name]) == {name: ("100.1", "10")}
            write_tick(client, name, "100.2", 20)
            assert await board.ticks([name]) == {name: ("100.2", "20")}

    asyncio.run(body())


def test_a_feed_that_leaves_mid_read_does_not_cancel_the_read_the_others_wait_on(
    redis_url: str, client: redis_lib.Redis
) -> None:
    (name,) = symbols(1)
    write_tick(client, name, "7", 70)

    async def body() -> None:
        async with board_on(redis_url, FOREVER_S) as board:
            leaving = asyncio.create_task(board.ticks([name]))
            await asyncio.sleep(0)  # it started the read and waits on it
            staying = asyncio.create_task(board.ticks([name]))
            await asyncio.sleep(0)  # it waits on the same read
            leaving.cancel()
            assert await staying == {name: ("7", "70")}
            assert leaving.cancelled()

    asyncio.run(body())


@pytest.fixture
def down_redis() -> Iterator[aioredis.Redis]:
    """Return a client of a port held bound and not listening for the test: every connection is
    refused at once (a port merely free now could be taken by another test's server, which
    might never answer), and redis-py does not retry."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        yield aioredis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))


@pytest.mark.parametrize("what", ["ticks", "candle"])
def test_a_failed_read_fails_every_feed_waiting_on_it_and_the_next_ask_reads_again(
    what: str, down_redis: aioredis.Redis
) -> None:
    (name,) = symbols(1)

    async def body() -> None:
        board = TickBoard(down_redis, FOREVER_S)

        def ask() -> Awaitable[object]:
            if what == "ticks":
                return board.ticks([name])
            return board.newest_candle(name, ("1", "1"))

        results = await asyncio.gather(*(ask() for _ in range(3)), return_exceptions=True)
        # One read failed, for all three: the same error, a connection refused.
        assert isinstance(results[0], redis_lib.ConnectionError)
        assert results[1] is results[0] and results[2] is results[0]
        with pytest.raises(redis_lib.ConnectionError) as again:
            await ask()
        assert again.value is not results[0]  # a new read, not the failed one kept
        await board.r.aclose()

    asyncio.run(body())


def test_the_newest_candle_is_read_once_per_tick(redis_url: str, client: redis_lib.Redis) -> None:
    (name,) = symbols(1)
    key = keys_for(name).candles

    client.hset(key, mapping={"60000": candle(60_000, "1"), "120000": candle(120_000, "2")})

    async def body() -> None:
        async with board_on(redis_url, FOREVER_S) as board:
            first = await board.newest_candle(name, ("2", "120001"))
            assert first is not None and (first["open_ms"], first["close"]) == (120_000, "2")
            client.hset(key, "120000", candle(120_000, "3"))
            assert await board.newest_candle(name, ("2", "120001")) == first  # the same tick
            later = await board.newest_candle(name, ("3", "120002"))
            assert later is not None and later["close"] == "3"

    asyncio.run(body())


class HeldPipelines:
    """A real client whose pipelines wait for `release` before they run: a read that is
    certainly under way while the test asks again."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client, self.release, self.started = client, asyncio.Event(), 0

    def pipeline(self, transaction: bool = True) -> HeldPipelines:
        self.pipe = self.client.pipeline(transaction=transaction)
        return self

    def hmget(self, *args: object) -> None:
        self.pipe.hmget(*args)  # type: ignore[arg-type]

    async def execute(self) -> list[object]:
        self.started += 1
        await self.release.wait()
        return await self.pipe.execute()  # type: ignore[no-any-return]


def test_a_symbol_first_asked_for_during_a_read_is_read_right_after_it(
    redis_url: str, client: redis_lib.Redis
) -> None:
    a, b = two_ticking(client)

    async def body() -> None:
        real = aioredis.Redis.from_url(redis_url, decode_responses=True)
        held = HeldPipelines(real)
        board = TickBoard(held, FOREVER_S)  # type: ignore[arg-type]
        first = asyncio.create_task(board.ticks([a]))
        while held.started == 0:  # the read of [a] is under way
            await asyncio.sleep(0)
        second = asyncio.create_task(board.ticks([a, b]))
        await asyncio.sleep(0)
        held.release.set()
        assert await second == {a: ("1", "1"), b: ("2", "2")}
        assert await first == {a: ("1", "1")}
        assert held.started == 2  # b's read came after the one under way
        await real.aclose()

    asyncio.run(body())


def test_feeds_asking_for_a_new_candle_at_once_share_one_read_and_an_old_one_is_read_again(
    redis_url: str, client: redis_lib.Redis
) -> None:
    (name,) = symbols(1)
    key = keys_for(name).candles
    client.hset(key, "60000", candle(60_000, "5"))
    tick = ("5", "60001")
    got: list[dict[str, object] | None] = []

    async def twenty_feeds() -> None:
        async with board_on(redis_url, FOREVER_S) as board:
            got.extend(await asyncio.gather(*(board.newest_candle(name, tick) for _ in range(20))))

    async def past_the_max_age() -> None:
        async with board_on(redis_url, 0.0) as board:
            got.append(await board.newest_candle(name, tick))
            client.hset(key, "60000", candle(60_000, "6"))  # closed by the kline stream: same tick
            got.append(await board.newest_candle(name, tick))

    assert reads(client, "HGETALL", {key}, twenty_feeds()) == 1
    assert [c["close"] for c in got if c is not None] == ["5"] * 20
    got.clear()
    assert reads(client, "HGETALL", {key}, past_the_max_age()) == 2
    assert [c["close"] for c in got if c is not None] == ["5", "6"]
