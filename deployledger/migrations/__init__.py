"""Alembic migrations: the event-store DDL and the read-model schema, shipped in the wheel."""
