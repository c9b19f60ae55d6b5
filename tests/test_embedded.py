"""The embedded Redis a fresh machine runs on starts from a relative data folder too."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as redis_lib

from mmtasks.embedded import start_embedded_redis


def test_embedded_redis_starts_from_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    url = start_embedded_redis(Path(".data/run/redis"))

    client = redis_lib.Redis.from_url(url)
    try:
        assert client.set("probe", "1") and client.get("probe") == b"1"
        assert (tmp_path / ".data/run/redis/redis.log").exists()
    finally:
        client.shutdown(nosave=True)
