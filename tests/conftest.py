"""Shared fixtures: databases (SQLite, and PostgreSQL where reachable) and the bot harness."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.storage.database import Database
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("NEWSBOT_TEST_PG_URL", DEFAULT_PG_URL)
# CI sets NEWSBOT_REQUIRE_PG=1: there a missing PostgreSQL is a failure, not a skip.
REQUIRE_PG = os.environ.get("NEWSBOT_REQUIRE_PG") == "1"


def _pg_admin_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver or network error means "not here"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    problem = _pg_admin_reachable()
    if problem is not None:
        message = f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()} ({problem})"
        if REQUIRE_PG:
            pytest.fail(message + "; NEWSBOT_REQUIRE_PG=1 demands it")
        pytest.skip(message + "; set NEWSBOT_TEST_PG_URL to run the PostgreSQL storage tests")
    name = f"newsbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty database: SQLite, and PostgreSQL when reachable."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'newsbot.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, FakeTelegramServer]]:
    """A loopback feed server and a loopback fake Bot API, for end-to-end tests."""
    with FeedServer() as feeds, FakeTelegramServer() as telegram:
        yield feeds, telegram


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An upgraded, empty database on each backend."""
    db = Database(database_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()
