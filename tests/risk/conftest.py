"""Fixtures for fleet-risk tests: the integration fleet plus beat, a control worker, receivers."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures reused as they are
    _celery_app_on_test_redis,
    exchange,
    exchange_addr,
    fleet_env,
    ledger_url,
    pump,
    sim,
)
from tests.procs import ROOT, Worker, _log_file, stop


@dataclass
class Receiver:
    """A local HTTP endpoint that records every POST; answers `status_for(path, n)`."""

    port: int = 0
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    status_for: Callable[[str, int], int] = lambda path, n: 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path_prefix: str) -> list[str]:
        """Return the decoded bodies posted to paths starting with path_prefix."""
        with self.lock:
            return [_decode(b, h) for p, b, h in self.requests if p.startswith(path_prefix)]


def _decode(body: bytes, headers: dict[str, str]) -> str:
    encoding = headers.get("content-encoding", "")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding == "br":
        import brotli  # type: ignore[import-not-found]

        body = brotli.decompress(body)
    return body.decode(errors="replace")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start an HTTP receiver on an ephemeral port; stop it after the test."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with rec.lock:
                rec.requests.append((self.path, body, headers))
                n = sum(1 for p, _, _ in rec.requests if p == self.path)
            status = rec.status_for(self.path, n)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"ok": status == 200}).encode())

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@dataclass
class Procs:
    """The fleet processes of one test: workers and beat, stopped together (a full restart)."""

    env: dict[str, str]
    tmp_path: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def worker(self, queues: list[str], name: str, env: dict[str, str] | None = None) -> Worker:
        """Start a Celery worker on queues."""
        worker = Worker(queues, {**self.env, **(env or {})}, name=name)
        self.workers.append(worker)
        return worker

    def beat(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start beat with the risk task every second."""
        log = _log_file("beat").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mmtasks",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(self.tmp_path / f"beat-{len(self.started)}-schedule"),
            ],
            cwd=ROOT,
            env={**os.environ, "MMTASKS_RISK_EVERY_S": "1", **self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every process: beat first, then the workers."""
        for proc in self.started:
            stop(proc)
        for worker in self.workers:
            worker.stop()
        self.started.clear()
        self.workers.clear()


@pytest.fixture
def procs(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[Procs]:  # noqa: F811
    """Start fleet processes on demand; stop them all after the test."""
    fleet = Procs(fleet_env, tmp_path)
    yield fleet
    fleet.stop_all()
