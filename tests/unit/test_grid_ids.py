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
    # The documented budget: 15 significant digits from 0.1 up to 1e9, 13 below 0.1 (to 1e-12).
    if rng.random() < 0.5:
        digits = rng.randint(1, 15)
        coefficient = rng.randint(10 ** (digits - 1), 10**digits - 1)
        exponent = rng.randint(-digits, 9 - digits)
    else:
        digits = rng.randint(1, 13)
        coefficient = rng.randint(10 ** (digits - 1), 10**digits - 1)
        exponent = rng.randint(-12 - digits + 1, -1 - digits)
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


@pytest.mark.parametrize(
    ("level", "text"),
    [
        (D("97250.50"), "97250p5"),
        (D("0.05"), "p05"),
        (D("100"), "100"),
        (D("0.00001234"), "1234e8"),
        (D("0.001"), "1e3"),
        (D("0.01"), "p01"),  # as short as 1e2: the plain form wins ties
    ],
)
def test_level_text(level: Decimal, text: str) -> None:
    cid = client_order_id("BTCUSDT", level, Side.BUY, 1)

    assert cid == f"{client_id_prefix('BTCUSDT')}b{text}g1"
    assert parse_client_order_id(cid).level == level


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
        "mmabcdefb1e2g1",  # scientific where plain is shorter
        "mmabcdefb1eg1",
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
