"""Engine, sessions and the declarative base shared by every table of the project.

Nothing here is SQLite-only: the same code runs on PostgreSQL by setting `DATABASE_URL`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

import settings


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    """An engine for `url`.

    SQLite gets what PostgreSQL has by default: foreign keys, a busy timeout, and transactions
    that take the write lock when they begin (BEGIN IMMEDIATE), so two racing writers serialise
    instead of both reading the old state. On PostgreSQL, writers lock the rows they change
    (`SELECT ... FOR UPDATE`) and unique constraints settle the rest.
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if ":memory:" not in url:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    return make_engine(url)


def default_engine() -> Engine:
    return engine_for(settings.get().database_url)


def create_schema(engine: Engine) -> None:
    """Create every table registered on `Base` so far, the store's always (idempotent).

    Other packages (knowledge/, crew/) register their tables by importing their models first.
    """
    import shop.approvals
    import shop.audit
    import shop.idempotency
    import shop.models  # noqa: F401  (registers the store's tables, governance ones included)

    Base.metadata.create_all(engine)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll back everything if it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
