"""A comma-separated symbol list, as the connector and the Binance simulator take it."""

from __future__ import annotations

import pytest

from mmtasks.domain import parse_symbols
from mmtasks.errors import ValidationError


def test_symbols_are_upper_case_each_once_in_the_order_given() -> None:
    assert parse_symbols(" ethusdt,BTCUSDT,, ETHUSDT ") == ("ETHUSDT", "BTCUSDT")


def test_an_empty_list_has_no_symbols() -> None:
    assert parse_symbols("") == ()


def test_a_bad_name_is_refused_with_what_was_received() -> None:
    with pytest.raises(ValidationError, match="received 'BTC-USDT'"):
        parse_symbols("ETHUSDT,BTC-USDT")
