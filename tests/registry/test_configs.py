"""Config updates: keys merge into the stored config, null removes one, errors name the section."""

from __future__ import annotations

import pytest

from mmtasks.errors import ValidationError
from mmtasks.registry.configs import config_json, merge, parse_risk, parse_strategy

STORED = {"mode": "long", "interval": "10", "buy_levels": 2, "order_qty": "1"}


def test_merge_keeps_unnamed_keys_and_null_removes_a_key() -> None:
    patch = {"interval": "20", "order_qty": None, "order_notional": "50"}

    merged = merge(STORED, patch)

    assert merged == {"mode": "long", "interval": "20", "buy_levels": 2, "order_notional": "50"}
    assert parse_strategy(merged).order_notional == 50


def test_switching_size_without_removing_the_old_one_is_refused_clearly() -> None:
    with pytest.raises(ValidationError) as err:
        parse_strategy(merge(STORED, {"order_notional": "50"}))

    assert str(err.value) == (
        "strategy: set exactly one of order_qty or order_notional, received both"
    )


def test_stored_form_is_complete_and_round_trips() -> None:
    stored = config_json(parse_strategy(STORED))

    assert stored["sell_levels"] == 10 and "order_notional" not in stored
    assert parse_strategy(stored) == parse_strategy(STORED)
    assert parse_risk(config_json(parse_risk({}))) == parse_risk({})
