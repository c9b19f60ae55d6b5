"""Hypothesis profiles for the grid properties: a small default, `thorough` for the slow target.

.venv/bin/python -m pytest -q tests/props                                  # 50 examples
HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest -q tests/props      # 2,000 examples
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"
THOROUGH_TIMEOUT_S = 3600

settings.register_profile(
    "default", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get(PROFILE_ENV, "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "props: Hypothesis properties of the grid core")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The thorough profile runs for minutes: lift the suite's per-test timeout for it only.
    thorough = os.environ.get(PROFILE_ENV) == "thorough"
    for item in items:
        if "tests/props/" in item.nodeid:
            item.add_marker(pytest.mark.props)
            if thorough:
                item.add_marker(pytest.mark.timeout(THOROUGH_TIMEOUT_S))
