"""Alembic environment: runs on the connection handed over in `config.attributes`."""

from __future__ import annotations

from alembic import context

from deployledger.migrations.runner import include_name
from deployledger.store.readmodel.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=include_name,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
