"""Versioned SQL migrations: files NNN_name.sql applied once each, in order, in a transaction."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# One advisory lock key for migrations, so two processes starting together do not race.
MIGRATION_LOCK = 7_115_001


def migration_files() -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every migration shipped with mmtasks, in order."""
    folder = resources.files("mmtasks.registry").joinpath("migrations")
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text()))
    return sorted(out)


def migrate(database_url: str, connect_timeout_s: int = 10) -> list[str]:
    """Apply pending migrations to database_url; return the names applied."""
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=connect_timeout_s) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)  # trusted, shipped SQL
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied
