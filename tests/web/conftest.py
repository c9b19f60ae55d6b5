"""The web process as a real uvicorn subprocess, and a trading fleet for it to watch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import eventually
from tests.procs import LOG_DIR, ROOT, stop

ARTIFACTS = ROOT / ".data" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebProc:
    """A real `python -m mmtasks.web` process."""

    def __init__(self, env: dict[str, str], host: str = "127.0.0.1", wait: bool = True) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = host
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = LOG_DIR / f"web-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mmtasks.web", "--host", host, "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            eventually(self.serving, timeout_s=30)

    def serving(self) -> bool:
        assert self.proc.poll() is None, f"web exited early: {self.log_text()}"
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop(self.proc)
        self._log.close()

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")


@pytest.fixture
def start_web() -> Iterator[Callable[..., WebProc]]:
    """Start web processes on demand; stop them after the test."""
    started: list[WebProc] = []

    def start(env: dict[str, str], **kw: object) -> WebProc:
        proc = WebProc(env, **kw)  # type: ignore[arg-type]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def ledger_url(pg_url: str) -> str:
    """Return a Postgres URL with the schema migrated."""
    from mmtasks.registry.migrate import migrate

    migrate(pg_url)
    return pg_url


@pytest.fixture
def web_env(redis_url: str, ledger_url: str) -> dict[str, str]:
    """Return the environment of a web process on the test's Redis and Postgres."""
    return {
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "DATABASE_URL": ledger_url,
        "CONNECTOR_ADDR": "127.0.0.1:1",  # no connector: deep health says so
        "WEB_TOKEN": "",
    }


# -- a real headless Chromium ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Return Debian's chromium driven by Playwright (skipped when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Tab:
    """A page of the dashboard that remembers every console error and page error."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1480, "height": 900})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait(self, expression: str, timeout_s: float = 30) -> None:
        self.page.wait_for_function(expression, timeout=timeout_s * 1000)


def write_events(client: Any, symbol: str, events: list[dict[str, str]]) -> None:
    """Append events to mm:events with the production writer (the outbox relay where it exists:
    `emit`; before it, `publish`)."""
    import mmtasks.events as events_module

    emit = getattr(events_module, "emit", None)
    if emit is not None:
        emit(client, symbol, events)
    else:
        events_module.publish(client, events)  # type: ignore[attr-defined]
