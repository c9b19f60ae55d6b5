"""Loopback serves openly; any other bind needs WEB_TOKEN, required everywhere but /health."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
TOKEN = "s3cret-token"
PROTECTED = ("/status", "/metrics", "/api/fleet", "/openapi.json", "/")


def test_loopback_without_a_token_is_open(start_web: Any, web_env: dict[str, str]) -> None:
    web = start_web(web_env)

    codes = {path: httpx.get(web.url + path, timeout=10).status_code for path in PROTECTED}

    assert codes == dict.fromkeys(PROTECTED, 200)


def test_a_public_bind_without_a_token_refuses_to_start(
    start_web: Any, web_env: dict[str, str]
) -> None:
    web = start_web(web_env, host="0.0.0.0", wait=False)

    code = web.proc.wait(30)

    assert code == 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(web.url + "/health", timeout=2)


def test_with_a_token_every_route_but_health_requires_it(
    start_web: Any, web_env: dict[str, str]
) -> None:
    web = start_web({**web_env, "WEB_TOKEN": TOKEN}, host="0.0.0.0")
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def codes(**kw: Any) -> dict[str, int]:
        return {p: httpx.get(web.url + p, timeout=10, **kw).status_code for p in PROTECTED}

    anonymous, wrong = codes(), codes(headers={"Authorization": "Bearer nope"})
    with_header, with_query = codes(headers=bearer), codes(params={"token": TOKEN})

    assert httpx.get(web.url + "/health", timeout=10).status_code == 200
    assert anonymous == wrong == dict.fromkeys(PROTECTED, 401)
    assert with_header == with_query == dict.fromkeys(PROTECTED, 200)


def test_the_feed_refuses_a_websocket_without_the_token(
    start_web: Any, web_env: dict[str, str]
) -> None:
    web = start_web({**web_env, "WEB_TOKEN": TOKEN}, host="0.0.0.0")
    ws_url = f"ws://127.0.0.1:{web.port}/ws"

    with pytest.raises(InvalidStatus):
        connect(ws_url, open_timeout=10).close()
    with connect(f"{ws_url}?token={TOKEN}", open_timeout=10) as ws:
        first = eventually(lambda: ws.recv(timeout=10))

    assert '"type":"status"' in first
