"""Run the migrations programmatically, on a connection we own (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

HERE = Path(__file__).resolve().parent
# Tables that belong to the event store, not to the SQLAlchemy metadata: kept out of the
# autogenerate comparison (their DDL is the event-store revision's business).
EVENT_STORE_TABLES = frozenset(
    {"stored_events", "stored_snapshots", "deployledger_events", "deployledger_snapshots"}
)
_IGNORED = EVENT_STORE_TABLES | {"alembic_version"}


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Compare only read-model objects with the metadata (and skip rebuild leftovers)."""
    if type_ == "table":
        return name not in _IGNORED and not _is_shadow(name or "")
    return True


def _is_shadow(name: str) -> bool:
    return name.endswith(("_next", "_prev"))


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    script = ScriptDirectory(str(HERE))
    current = script.get_current_head()
    assert current is not None
    return current


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(config(connection), revision)


def downgrade(connection: Connection, revision: str = "base") -> None:
    command.downgrade(config(connection), revision)
