"""Fixtures of the chaos tests: the `chaos` marker, a real connector, migrated ledger, clients.

`pytest -m chaos` selects every test here: the invariant checker's own tests (planted faults)
and the short CI versions of the chaos suite's scenarios.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kit.fixtures import (  # noqa: F401 - fixtures of this folder's tests
    _celery_app_on_test_redis,
    exchange,
    fleet_env,
    ledger_url,
    sim,
    workers,
)
from tests.kit.procs import connector

SYMBOL = "GRIDUSDT"
OTHER = "ALTUSDT"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: invariant checker and short chaos scenarios (tests/chaos)"
    )


@pytest.fixture
def exchange_addr() -> Iterator[str]:
    """Run the simulated connector with no feed: prices move only when a test injects them."""
    with connector("--feed", "none", "--symbols", f"{SYMBOL},{OTHER}") as addr:
        yield addr
