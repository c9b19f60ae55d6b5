"""Client order ids: deterministic, <= 32 letters and digits, parseable, prefix-matchable."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.errors import ValidationError
from mmtasks.grid.ids import (
    ParsedId,
    client_id_prefix,
    client_order_id,
    is_ours,
    parse_client_order_id,
    symbol_tag,
)

D = Decimal


def random_level(rng: random.Random) -> Decimal:
    # Up to 15 significant digits anywhere from 1e-8 to 1e7, as venues quote.
    digits = rng.randint(1, 15)
    coefficient = rng.randint(1, 10**digits - 1)
    exponent = rng.randint(-8 - digits + 1, 7 - digits + 1)
    return D(coefficient).scaleb(exponent)


def test_id_is_deterministic_and_parses_back() -> None:
    cid = client_order_id("BTCUSDT", D("97250.50"), Side.BUY, 3)

    assert cid == client_order_id("btcusdt", D("97250.5"), Side.BUY, 3)
    assert cid == f"{client_id_prefix('BTCUSDT')}b97250p5g3"
    assert parse_client_order_id(cid) == ParsedId(symbol_tag("BTCUSDT"), D("97250.5"), Side.BUY, 3)


@pytest.mark.parametrize("seed", range(5))
def test_random_levels_round_trip_within_32_alphanumerics(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        level = random_level(rng)
        side = rng.choice([Side.BUY, Side.SELL])
        generation = rng.choice([rng.randint(0, 10**6), 1_700_000_000 + rng.randint(0, 10**8)])

        cid = client_order_id("ETHUSDT", level, side, generation)
        parsed = parse_client_order_id(cid)

        assert len(cid) <= 32 and cid.isalnum() and cid.isascii()
        assert (parsed.level, parsed.side, parsed.generation) == (level, side, generation)
        assert is_ours("ETHUSDT", cid)
        assert not is_ours("BTCUSDT", cid)


def test_prefix_is_per_symbol() -> None:
    prefixes = {client_id_prefix(f"SYM{n}USDT") for n in range(500)}

    assert len(prefixes) == 500
    assert all(len(p) == 8 and p.startswith("mm") for p in prefixes)


@pytest.mark.parametrize(
    "cid",
    [
        "",
        "mmabcdefb100",  # no generation
        "mmabcdefx100g1",  # no side
        "mmabcdefb100.5g1",  # not alphanumeric
        "mmabcdefb0100g1",  # level not canonical
        "mmabcdefb100p50g1",  # trailing zero
        "mmabcdefb100g01",  # generation not canonical
        "xxabcdefb100g1",
        "web-order-123",
    ],
)
def test_foreign_or_malformed_ids_are_not_ours(cid: str) -> None:
    with pytest.raises(ValidationError):
        parse_client_order_id(cid)
    assert not is_ours("BTCUSDT", cid)


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (D("1234567890.1234567890"), "at most 32 characters"),
        (D(0), "level must be a positive decimal"),
        (D(-5), "level must be a positive decimal"),
    ],
)
def test_unencodable_levels_are_refused(level: Decimal, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        client_order_id("BTCUSDT", level, Side.SELL, 1_700_000_000)
