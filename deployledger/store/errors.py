"""Translate driver and eventsourcing errors into deployledger errors, password scrubbed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing import persistence as es
from sqlalchemy import exc as sa_exc

from deployledger.domain.storeurl import StoreURL
from deployledger.errors import DeployLedgerError, SchemaMissing, StoreUnavailable

_MISSING_MARKERS = ("no such table", "does not exist", "undefinedtable")
_UNAVAILABLE = (
    es.OperationalError,
    es.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    OSError,
)


_DRIVER_ERRORS = (
    es.PersistenceError,
    psycopg.Error,
    sqlite3.Error,
    sa_exc.SQLAlchemyError,
    OSError,
)


def _is_missing_schema(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _MISSING_MARKERS) and (
        "relation" in lowered or "table" in lowered or "type" in lowered
    )


def translate(url: StoreURL, error: BaseException) -> DeployLedgerError:
    """The deployledger error for a driver error, with the password removed."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        error = error.orig  # SQLAlchemy wraps the driver's error; classify the original
    elif isinstance(error, sa_exc.TimeoutError):
        return StoreUnavailable(f"store {url.redacted()} is unavailable: connection pool timeout")
    text = url.scrub(str(error).strip().splitlines()[0] if str(error).strip() else "")
    text = text or type(error).__name__
    if _is_missing_schema(text):
        return SchemaMissing(
            f"store {url.redacted()} has no deployledger schema ({text}); "
            "run `deployledger migrate` first"
        )
    if isinstance(error, _UNAVAILABLE):
        return StoreUnavailable(f"store {url.redacted()} is unavailable: {text}")
    return DeployLedgerError(f"store {url.redacted()} failed: {text}")


@contextmanager
def translated(url: StoreURL) -> Iterator[None]:
    """Let version conflicts (`eventsourcing` IntegrityError) through; translate the rest."""
    try:
        yield
    except es.IntegrityError:
        raise
    except DeployLedgerError:
        raise
    except (
        es.PersistenceError,
        psycopg.Error,
        sqlite3.Error,
        sa_exc.SQLAlchemyError,
        OSError,
    ) as e:
        raise translate(url, e) from None
