"""Engines and the unit of work.

Reads run in a plain transaction (a consistent snapshot on SQLite WAL and on PostgreSQL REPEATABLE
READ). Writes run in ``Store.write()``: on SQLite one writer at a time (a process lock, then BEGIN
IMMEDIATE, so two writers never deadlock upgrading a read lock); on PostgreSQL concurrent, with
constraint violations and serialization failures retried. Every write ends by taking the next global
revision and recording one change row per touched resource (see revisions.py).

Retries back off exponentially with full jitter, so writers that collided do not collide again in
lockstep. Where a race is the rule rather than the exception (the lowest free VLAN, the last free
address of a subnet), the services serialize the few writers concerned instead: ``lock_named()``
or a row lock, taken before they read what they will pick from.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from neutrino.store.revisions import Renderer, Transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 20
BACKOFF_FIRST = 0.002  # seconds; doubles after each failed attempt ...
BACKOFF_MAX = 0.1  # ... up to this, and the actual sleep is uniform in [0, that]
_jitter = random.Random()
JSON_CODEC = {"json_serializer": lambda value: orjson.dumps(value).decode(), "json_deserializer": orjson.loads}


class Retry(Exception):
    """Raised inside a write to have the whole transaction run again (e.g. an address raced away)."""


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt + 1``: full jitter over a doubling ceiling."""
    return _jitter.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** attempt))


def lock_named(session: Session, name: str) -> None:
    """Hold the lock called ``name`` until the transaction ends, so writers naming it take turns.

    PostgreSQL: a transaction-level advisory lock (shared by every server on the database). SQLite
    needs none: ``Store.write`` already admits one writer at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_engine(url: str, begin: str) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(begin)

    return engine


def _normalize_pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Store:
    def __init__(self, url: str, renderer: Renderer | None = None):
        self.url = url
        self.is_sqlite = _is_sqlite(url)
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, "BEGIN")
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
        else:
            url = _normalize_pg_url(url)
            self.read_engine = create_engine(
                url, isolation_level="REPEATABLE READ", pool_size=10, max_overflow=20, pool_pre_ping=True,
                **JSON_CODEC)
            self.write_engine = create_engine(
                url, isolation_level="READ COMMITTED", pool_size=10, max_overflow=20, pool_pre_ping=True,
                **JSON_CODEC)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self.renderer = renderer
        self.retention = 100_000
        # Called with the new revision after every commit in this process (feed watchers wake up).
        self.listeners: list[Callable[[int], None]] = []

    def migrate(self) -> None:
        """Apply the Alembic migrations (idempotent; the server does this before serving)."""
        from neutrino.store.migrate import upgrade

        upgrade(self.write_engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a write transaction, retrying it on races; returns its result."""
        for attempt in range(RETRIES):
            try:
                result, revision = self._write_once(work)
            except (Retry, IntegrityError, OperationalError) as exc:
                if not self._is_retryable(exc) or attempt == RETRIES - 1:
                    raise
                log.debug("write retried after %s", exc.__class__.__name__)
                time.sleep(backoff(attempt))
                continue
            if revision:
                self._notify(revision)
            return result
        raise AssertionError("unreachable")

    def _write_once(self, work):
        lock = self._write_lock
        if lock:
            lock.acquire()
        try:
            with self._write_sessions() as session:
                with session.begin():
                    tx = Transaction(session, self.renderer, self.retention)
                    result = work(tx)
                    revision = tx.finish()
                return result, revision
        finally:
            if lock:
                lock.release()

    @staticmethod
    def _is_retryable(exc: Exception) -> bool:
        if isinstance(exc, Retry | IntegrityError):
            return True
        if isinstance(exc, DBAPIError):
            text = str(exc.orig).lower()
            return any(s in text for s in ("locked", "deadlock", "could not serialize", "busy"))
        return False

    def _notify(self, revision: int) -> None:
        for listener in self.listeners:
            listener(revision)

    def dispose(self) -> None:
        self.read_engine.dispose()
        self.write_engine.dispose()
