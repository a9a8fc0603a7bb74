"""Alembic environment: runs migrations on the connection newsbot hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.storage.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run on the caller's connection, or open one from the configured URL (CLI use)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("connection_url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(str(url))
    with engine.begin() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
