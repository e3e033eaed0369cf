"""Scratch stores: a temporary SQLite file, or a PostgreSQL database made and dropped on
the server given by `--postgres`."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench import Config

NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass(frozen=True)
class Store:
    backend: str
    url: str  # for Ledger.open, and for psycopg on PostgreSQL
    path: str = ""  # the SQLite file

    @property
    def events_table(self) -> str:
        """The library's event table (read raw by the baselines)."""
        return "stored_events" if self.backend == "sqlite" else "deployledger_events"


@contextlib.contextmanager
def fresh_store(cfg: Config, backend: str) -> Iterator[Store]:
    """A new, empty store, removed on exit."""
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="dlbench-", dir=cfg.tmpdir)
        try:
            path = str(Path(tmp, "store.db").resolve())
            yield Store("sqlite", f"sqlite:///{path}", path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"dlbench_{uuid.uuid4().hex[:12]}"
    with admin(cfg.postgres) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(cfg.postgres)
    try:
        yield Store("postgres", urlunsplit((*parts[:2], f"/{name}", parts.query, "")))
    finally:
        with admin(cfg.postgres) as conn:
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
            conn.execute(sql.SQL(drop).format(sql.Identifier(name)))


def admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def check_postgres(url: str) -> str | None:
    """None if the server answers, else why not (without the password)."""
    try:
        with admin(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return redact(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    return None


def postgres_settings(url: str) -> str:
    with admin(url) as conn:
        values = []
        for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            values.append(f"{name}={row[0] if row else '?'}")
    return ", ".join(values)


def redact(text: str) -> str:
    """Mask the password of any store URL in `text`."""
    return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
