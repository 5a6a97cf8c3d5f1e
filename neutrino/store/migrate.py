"""Applies the Alembic migrations; the server calls ``upgrade`` at start, before serving."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database at ``engine`` to the newest schema (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # two servers starting together on one database: one migrates, the other waits
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(96960001)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
