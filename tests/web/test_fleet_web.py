"""The web process watching a real fleet trade: health, status, metrics, and the dashboard in a
real headless Chromium (Debian's `chromium`, driven by Playwright).

One fleet serves the module (starting it is the slow part); tests run in file order and the
last one stops the feed to compare settled figures exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mmtasks.audit.model import PNL_TOLERANCE
from mmtasks.embedded import Services
from mmtasks.ledger import summarize
from mmtasks.state.keys import EVENTS, keys_for
from tests.helpers import eventually
from tests.web.conftest import ARTIFACTS, Tab, WebProc
from tests.web.fleet import ADDED, ADDED_CONFIG, TRADING, WebFleet, web_fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
SYMBOLS = list(TRADING)
D = Decimal

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def fleet(services: Services, redis_base_url: str) -> Iterator[WebFleet]:
    with web_fleet(services, redis_base_url) as running:
        yield running


def get(fleet: WebFleet, path: str) -> httpx.Response:
    return httpx.get(fleet.web.url + path, timeout=30)


def scrape(fleet: WebFleet) -> Samples:
    """Return every sample of /metrics by (name, labels)."""
    text = get(fleet, "/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def ledger_fills(fleet: WebFleet, symbol: str) -> int:
    with psycopg.connect(fleet.pg_url) as conn:
        return summarize(conn, symbol).fills


def test_health_is_ok_and_deep_health_reports_every_dependency(fleet: WebFleet) -> None:
    shallow, deep = get(fleet, "/health"), get(fleet, "/health?deep=1")

    assert (shallow.status_code, shallow.json()) == (200, {"status": "ok"})
    assert deep.status_code == 200
    checks = deep.json()["checks"]
    assert {name: c["state"] for name, c in checks.items()} == {
        "redis": "up",
        "postgres": "up",
        "connector": "SERVING",
    }


def test_openapi_describes_the_endpoints(fleet: WebFleet) -> None:
    paths = get(fleet, "/openapi.json").json()["paths"]

    assert {"/health", "/status", "/metrics", "/api/fleet"} <= set(paths)


EVERY_METRIC = {
    "mm_position",
    "mm_exposure",
    "mm_realized_pnl",
    "mm_unrealized_pnl",
    "mm_fees",
    "mm_volume",
    "mm_fills_total",
    "mm_orders_total",
    "mm_tick_to_order_seconds_bucket",
    "mm_step_duration_seconds_bucket",
    "mm_inbox_lag",
    "mm_queue_depth",
    "mm_queue_consumers",
    "mm_symbol_state",
    "mm_fleet_state",
    "mm_bridge_messages_total",
    "mm_bridge_rejects_total",
    "mm_ledger_backlog",
    "mm_open_orders",
    "mm_up",
}


def test_metrics_while_two_symbols_trade_carry_every_figure_per_symbol(fleet: WebFleet) -> None:
    for symbol in SYMBOLS:
        eventually(lambda s=symbol: ledger_fills(fleet, s) >= 2, timeout_s=90)

    # The bridge writes its running totals with its heartbeat (every few seconds): wait for one.
    def with_bridge_totals() -> list[Any] | None:
        found = scrape(fleet)
        return found if any(name == "mm_bridge_messages_total" for name, _ in found) else None

    samples = eventually(with_bridge_totals, timeout_s=30)
    text = get(fleet, "/metrics").text

    names = {name for name, _ in samples}
    # The bridge refused nothing, so its rejects counter is declared without samples.
    assert EVERY_METRIC - {"mm_bridge_rejects_total"} <= names
    assert "# TYPE mm_bridge_rejects_total counter" in text
    assert sample(samples, "mm_up", dependency="postgres") == 1
    for symbol in SYMBOLS:
        assert sample(samples, "mm_queue_consumers", queue=symbol.lower()) == 1
        assert sample(samples, "mm_symbol_state", symbol=symbol, state="ACTIVE") == 1
        assert fills_of(samples, symbol) >= 2


def fills_of(samples: Samples, symbol: str) -> float:
    """Return mm_fills_total of symbol summed over sides."""
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "mm_fills_total" and ("symbol", symbol) in labels
    )


def test_a_web_process_just_started_already_reports_who_consumes_each_queue(
    fleet: WebFleet,
) -> None:
    # Arrange: the fleet's workers run; a second web process starts.
    for symbol in SYMBOLS:
        eventually(lambda s=symbol: ledger_fills(fleet, s) >= 1, timeout_s=90)
    late = WebProc(fleet.env)
    try:
        # Act: the first scrape, as soon as /health answers.
        text = httpx.get(late.url + "/metrics", timeout=30).text
    finally:
        late.stop()

    # Assert: the consumers were asked before serving: one per symbol queue already.
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for symbol in SYMBOLS:
        assert sample(samples, "mm_queue_consumers", queue=symbol.lower()) == 1


# -- the dashboard in a real browser ---------------------------------------------------------


@pytest.fixture(scope="module")
def fleet_tab(browser: Any, fleet: WebFleet) -> Iterator[Tab]:
    tab = Tab(browser, fleet.web.url + "/")
    yield tab
    tab.page.close()


@pytest.fixture(scope="module")
def symbol_tab(browser: Any, fleet: WebFleet) -> Iterator[Tab]:
    tab = Tab(browser, f"{fleet.web.url}/#/symbol/{SYMBOLS[0]}")
    yield tab
    tab.page.close()


def test_the_dashboard_loads_without_console_errors_and_lists_every_symbol(
    fleet: WebFleet, fleet_tab: Tab
) -> None:
    fleet_tab.wait(f"window.mmDash && window.mmDash.matrixSymbols().length === {len(SYMBOLS)}")

    assert fleet_tab.js("window.mmDash.matrixSymbols()") == sorted(SYMBOLS)
    states = fleet_tab.js(
        "[...document.querySelectorAll('#matrix td[data-col=state]')].map(td => td.textContent)"
    )
    assert states == ["ACTIVE"] * len(SYMBOLS)
    assert fleet_tab.errors == []


def test_a_resting_order_is_drawn_as_a_price_line(fleet: WebFleet, symbol_tab: Tab) -> None:
    symbol = SYMBOLS[0]

    def drawn_and_resting() -> bool:
        lines = symbol_tab.js("window.mmDash.priceLines()")
        slots = [json.loads(v) for v in fleet.redis.hvals(keys_for(symbol).slots)]
        resting = {D(s["price"]) for s in slots if s["status"] == "LOCKED"}
        return bool(resting & {D(line["price"]) for line in lines})

    symbol_tab.wait("window.mmDash && window.mmDash.priceLines().length > 0")
    eventually(drawn_and_resting, timeout_s=30)
    assert symbol_tab.errors == []


def test_a_fill_appears_as_a_marker_and_in_the_matrix(
    fleet: WebFleet, fleet_tab: Tab, symbol_tab: Tab
) -> None:
    symbol = SYMBOLS[0]
    cell = f"#matrix tr[data-symbol={symbol}] td[data-col=fills]"
    fleet_tab.wait(f"document.querySelector('{cell}') !== null")
    shown_before = int(fleet_tab.js(f"document.querySelector('{cell}').textContent"))
    start_id = fleet.redis.xrevrange(EVENTS, count=1)[0][0]

    def new_fill() -> dict[str, Any] | None:
        for entry_id, fields in fleet.redis.xrange(EVENTS, min=f"({start_id}", max="+"):
            if fields["type"] == "ORDER_FILLED" and fields["symbol"] == symbol:
                return {"id": entry_id, **json.loads(fields["data"])}
        return None

    fill = eventually(new_fill, timeout_s=90)
    published_ms = int(fill["id"].split("-")[0])
    marker = f"window.mmDash.markers().some(m => m.id === {json.dumps(fill['trade_id'])})"
    symbol_tab.wait(marker)
    marker_ms = time.time() * 1000
    fleet_tab.wait(f"Number(document.querySelector('{cell}').textContent) > {shown_before}")
    matrix_ms = time.time() * 1000

    # Latency from the event's stream time to the page, as measured here (reported, not timed).
    report = {"marker_ms": marker_ms - published_ms, "matrix_ms": matrix_ms - published_ms}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "dashboard-fill-latency.json").write_text(json.dumps(report))
    print(f"\nfill to page: {report}")
    assert symbol_tab.errors == [] and fleet_tab.errors == []


def test_a_symbol_added_with_add_symbol_appears_without_a_reload(
    fleet: WebFleet, fleet_tab: Tab
) -> None:
    fleet_tab.js("window.__sameDocument = true")

    fleet.admin("add_symbol", symbol=ADDED, **ADDED_CONFIG)

    fleet_tab.wait(f"window.mmDash.matrixSymbols().includes('{ADDED}')")
    assert fleet_tab.js("window.__sameDocument") is True
    assert fleet_tab.errors == []


def test_screenshots_of_the_fleet_and_a_symbol_page(fleet_tab: Tab, symbol_tab: Tab) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    symbol_tab.wait("window.mmDash.markers().length > 0 && window.mmDash.bars() >= 20", 90)
    fleet_tab.wait("window.mmDash.view().symbols.every(s => s.state === 'ACTIVE' && s.last_price)")
    # A live page's full-page shot on two loaded cores took over Playwright's 30 s once in CI.
    shot = {"full_page": True, "animations": "disabled", "timeout": 120_000}
    fleet_tab.page.set_viewport_size({"width": 1480, "height": 300})  # full page = content
    fleet_tab.page.screenshot(path=str(ARTIFACTS / "dashboard-fleet.png"), **shot)
    symbol_tab.page.screenshot(path=str(ARTIFACTS / "dashboard-symbol.png"), **shot)

    assert (ARTIFACTS / "dashboard-fleet.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-symbol.png").stat().st_size > 10_000


# -- settled: every figure equals /status and the ledger ---------------------------------------


def test_once_trading_stops_metrics_equal_status_and_the_ledger(fleet: WebFleet) -> None:
    from mmtasks.connector.sim_client import SimControlClient

    def has_fills(symbol: str) -> bool:
        with psycopg.connect(fleet.pg_url) as conn:
            return summarize(conn, symbol).fills > 0

    for symbol in SYMBOLS:  # trading happened (whichever tests ran before this one)
        eventually(lambda s=symbol: has_fills(s), timeout_s=90)
    with SimControlClient(fleet.addr) as sim:
        sim.set_feed(paused=True)
    for symbol in SYMBOLS:
        eventually(lambda s=symbol: fleet.settled(s), timeout_s=60)

    status = get(fleet, "/status").json()
    task = fleet.admin("status")
    samples = scrape(fleet)

    by_symbol = {e["symbol"]: e for e in status["symbols"]}
    task_by_symbol = {e["symbol"]: e for e in task["symbols"]}
    # ADDED is there when the browser test that adds it ran first (it skips without Chromium).
    assert set(by_symbol) == set(task_by_symbol)
    assert set(SYMBOLS) <= set(by_symbol) <= {*SYMBOLS, ADDED}
    for symbol in SYMBOLS:
        entry, from_task = by_symbol[symbol], task_by_symbol[symbol]
        for field in ("state", "registry_status", "position", "open_orders", "queue_depth"):
            assert entry[field] == from_task[field], field
        position = entry["position"]
        with psycopg.connect(fleet.pg_url) as conn:
            ledger = summarize(conn, symbol)
        fills = sum(
            v
            for (name, labels), v in samples.items()
            if name == "mm_fills_total" and ("symbol", symbol) in labels
        )
        assert fills == ledger.fills > 0
        # The books' PnL is the ledger's to the audit's tolerance: a fill the step learns of
        # after a newer one (reconcile) is folded later than its trade order, and the core
        # rounds a partial close's basis share at 1e-12 (see `audit.model.PNL_TOLERANCE`).
        assert abs(D(position["realized_pnl"]) - ledger.realized_pnl) <= PNL_TOLERANCE
        assert sample(samples, "mm_realized_pnl", symbol=symbol, quote="USDT") == float(
            D(position["realized_pnl"])
        )
        assert sample(samples, "mm_position", symbol=symbol) == float(D(position["qty"]))
        assert sample(samples, "mm_fees", symbol=symbol, quote="USDT") == float(D(position["fees"]))
        assert sample(samples, "mm_unrealized_pnl", symbol=symbol, quote="USDT") == float(
            D(position["unrealized_pnl"])
        )
        for side in ("buy", "sell"):
            assert (
                sample(samples, "mm_open_orders", symbol=symbol, side=side)
                == entry["open_orders"][side]
            )
        assert sample(samples, "mm_queue_depth", queue=symbol.lower()) == entry["queue_depth"]
        # Closed candles still reach the inbox with the feed paused (the kline stream closes
        # them on a timer), so a scrape can catch one not applied yet: the lag drains to 0.
        eventually(
            lambda s=symbol: sample(scrape(fleet), "mm_inbox_lag", symbol=s) == 0, timeout_s=30
        )
        assert sample(samples, "mm_ledger_backlog", symbol=symbol) == 0


def test_the_fleet_risk_card_shows_each_limit_set_beside_its_figure(
    fleet: WebFleet, fleet_tab: Tab
) -> None:
    from mmtasks.celery import app

    fleet.admin("set_fleet_risk", max_exposure_quote="1000000")
    app.send_task("mmtasks.beat.fleet_risk", queue="control")  # what beat sends every period

    row = "#risk-card .risk-row[data-limit=max_exposure_quote]"
    fleet_tab.wait(f"document.querySelector('{row}') !== null", timeout_s=30)
    text = fleet_tab.js(f"document.querySelector('{row}').textContent")
    figures = json.loads(fleet.redis.hget("mm:risk", "figures"))
    assert text.startswith("fleet exposure") and text.endswith(" / 1000000"), text
    assert "drawdown" not in fleet_tab.js("document.querySelector('#risk-card').textContent")
    assert D(figures["exposure"]) >= 0
    assert fleet_tab.errors == []
