"""The dashboard with 1 and with 50 symbols (state written as a fleet writes it), in Chromium:
every row shows, numbers are rounded to each symbol's tick and step size, a symbol page draws
its grid orders and fills."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib

from tests.web.conftest import ARTIFACTS, Tab
from tests.web.synthetic import populate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize("n", [1, 50])
def test_the_matrix_shows_every_symbol_rounded_to_its_precision(
    n: int,
    browser: Any,
    start_web: Any,
    web_env: dict[str, str],
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    symbols = populate(redis_client, ledger_url, n)
    web = start_web(web_env)

    tab = Tab(browser, web.url + "/")
    tab.wait(f"window.mmDash && window.mmDash.matrixSymbols().length === {n}")
    cells = tab.js(
        "[...document.querySelectorAll('#matrix tbody tr')].map(tr => ["
        "tr.querySelector('[data-col=price]').textContent,"
        "tr.querySelector('[data-col=position] .num').textContent])"
    )

    assert tab.js("window.mmDash.matrixSymbols()") == sorted(symbols)
    # tick size 0.01 and step size 0.001: two and three decimals, whatever the raw value
    assert all(price.split(".")[1].__len__() == 2 for price, _ in cells)
    assert all(qty.split(".")[1].__len__() == 3 for _, qty in cells)
    if n == 50:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(ARTIFACTS / "dashboard-fleet-50.png"), full_page=True)
    assert tab.errors == []
    tab.page.close()


def test_a_symbol_page_draws_orders_fills_and_curves(
    browser: Any,
    start_web: Any,
    web_env: dict[str, str],
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    symbol = populate(redis_client, ledger_url, 3)[0]
    web = start_web(web_env)

    tab = Tab(browser, f"{web.url}/#/symbol/{symbol}")
    tab.wait("window.mmDash && window.mmDash.priceLines().length === 8")
    tab.wait("window.mmDash.markers().length > 0 && window.mmDash.bars() > 0")

    lines = tab.js("window.mmDash.priceLines()")
    assert sorted({(line["side"], line["closing"]) for line in lines}) == [
        ("BUY", False),
        ("SELL", False),
        ("SELL", True),
    ]
    fills = tab.js("document.querySelectorAll('#fills tbody tr').length")
    assert fills == len(tab.js("window.mmDash.markers()")) > 0
    assert tab.errors == []
    tab.page.close()
