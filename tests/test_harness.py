"""The harness itself: each test gets a real, isolated Redis database and Postgres schema."""

from __future__ import annotations

import psycopg
import redis as redis_lib


def test_redis_database_is_flushed_and_private(redis_client: redis_lib.Redis) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set("k", "v")
    assert redis_client.get("k") == "v"


def test_postgres_schema_is_fresh_and_first_on_search_path(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE probe (id int PRIMARY KEY)")
        conn.execute("INSERT INTO probe VALUES (1)")
        schema = conn.execute("SELECT current_schema()").fetchone()
        rows = conn.execute("SELECT count(*) FROM probe").fetchone()
    assert schema is not None and schema[0].startswith("t_")
    assert rows == (1,)
