"""The event-store library's exception classes, for the translation of errors in
`deployledger.store.errors`: the event-store package is the only one that imports
eventsourcing beyond `eventsourcing.domain`."""

from __future__ import annotations

from eventsourcing.persistence import (
    ConnectionUnavailableError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
)

__all__ = [
    "ConnectionUnavailableError",
    "IntegrityError",
    "InterfaceError",
    "OperationalError",
    "PersistenceError",
]
