"""Alembic migrations: the event-store DDL and the read-model schema, shipped in the wheel."""

# The latest revision. Checked against the scripts by a test; lets a ledger open without
# importing Alembic when the schema is already current.
HEAD = "0010"
