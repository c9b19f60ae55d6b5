"""Config updates: keys merge into the stored config, null removes one, errors name the section."""

from __future__ import annotations

import pytest

from mmtasks.errors import ValidationError
from mmtasks.registry.configs import config_json, merge, parse_risk, parse_strategy

STORED = {"mode": "long", "interval": "10", "buy_levels": 2, "order_qty": "1"}


def test_merge_keeps_unnamed_keys_and_naming_one_size_replaces_the_other() -> None:
    patch = {"interval": "20", "order_notional": "50"}

    merged = merge(STORED, patch, "strategy")

    assert merged == {"mode": "long", "interval": "20", "buy_levels": 2, "order_notional": "50"}
    assert parse_strategy(merged).order_notional == 50


@pytest.mark.parametrize("patch", [{"interval": None}, {"order_qty": None, "order_notional": "5"}])
def test_a_null_is_refused_and_names_the_field(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as err:
        merge(STORED, patch, "strategy")

    field = next(key for key, value in patch.items() if value is None)
    assert str(err.value) == (
        f"strategy: {field} must not be null; to reset a field, give its default value "
        "(see docs/strategy.md)"
    )


def test_both_sizes_in_one_config_are_refused_clearly() -> None:
    with pytest.raises(ValidationError) as err:
        parse_strategy({**STORED, "order_notional": "50"})

    assert str(err.value) == (
        "strategy: set exactly one of order_qty or order_notional, received both"
    )


def test_stored_form_is_complete_and_round_trips() -> None:
    stored = config_json(parse_strategy(STORED))

    assert stored["sell_levels"] == 10 and "order_notional" not in stored
    assert parse_strategy(stored) == parse_strategy(STORED)
    assert parse_risk(config_json(parse_risk({}))) == parse_risk({})
