"""Fixtures on real servers: Redis (own DB per session, flushed per test), Postgres (own schema
per test), from REDIS_URL / DATABASE_URL when set, else the standard local ports, else embedded."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import redis as redis_lib

from mmtasks.embedded import Services, resolve_services
from mmtasks.state import wire

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_DIR = ROOT / ".data" / "test"
DB_LOCK_TTL_S = 3 * 3600


@pytest.fixture(scope="session")
def services() -> Services:
    """Return the Redis and Postgres this test session talks to."""
    return resolve_services(TEST_DATA_DIR, allow_local=True)


def with_db_index(url: str, index: int) -> str:
    """Return a redis URL pointing at database index."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{index}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def redis_base_url(services: Services) -> Iterator[str]:
    """Reserve one Redis database index (1..15) for this session, so parallel runs never meet."""
    admin = redis_lib.Redis.from_url(with_db_index(services.redis_url, 0))
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for index in range(1, 16):
        if admin.set(f"mmtasks:test-db-lock:{index}", owner, nx=True, ex=DB_LOCK_TTL_S):
            break
    else:
        pytest.fail("all Redis databases 1..15 are reserved by other test runs")
    yield with_db_index(services.redis_url, index)
    if admin.get(f"mmtasks:test-db-lock:{index}") == owner.encode():
        admin.delete(f"mmtasks:test-db-lock:{index}")


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """Return the session's Redis URL with its database flushed."""
    redis_lib.Redis.from_url(redis_base_url).flushdb()
    return redis_base_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    """Return a client on the test's flushed Redis database."""
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    yield client
    wire.close(client)  # the connections wire.py kept for this client, as Runtime.close does
    client.close()


def with_search_path(url: str, schema: str) -> str:
    """Return a libpq URL whose connections use schema first."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url(services: Services) -> Iterator[str]:
    """Return a Postgres URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield with_search_path(services.database_url, schema)
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
