"""Alembic migrations (issue 3, section 3), on empty SQLite and PostgreSQL databases.

`upgrade head` must give exactly the SQLAlchemy metadata (autogenerate compare is empty),
`downgrade base` then `upgrade head` must work, the event store the migrations create must
be usable by a `Ledger`, and the migration scripts must ship inside the package.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from sqlalchemy import Engine, inspect, select
from support import (
    REPO,
    create_database,
    drop_database,
    engine_for,
    report,
    reports,
    view_rows,
)

import deployledger
from deployledger import Ledger
from deployledger.domain.storeurl import parse_store_url
from deployledger.migrations import runner
from deployledger.migrations.runner import current, downgrade, head, include_name, upgrade
from deployledger.store.readmodel.tables import metadata, projection_tracking

READ_MODEL = {
    "workload_state",
    "deployment_attempts",
    "lifecycle_events",
    "workload_history",
    "workload_pools",
    "projection_tracking",
    "api_tokens",
    "failure_rules",
    "log_state",
    "log_leaves",
    "log_checkpoints",
    "sinks",
    "sink_dead_letters",
}


def event_tables(url: str) -> set[str]:
    if parse_store_url(url).is_postgres:
        return {"deployledger_events", "deployledger_snapshots"}
    return {"stored_events", "stored_snapshots"}


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on the empty store of the test."""
    with engine_for(store_url) as made:
        yield made


def drift(engine: Engine) -> list[Any]:
    """Alembic's autogenerate diff between the database and the read-model metadata."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        return list(compare_metadata(context, metadata))


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current(conn)


def migrate_up(engine: Engine, target: str = "head") -> None:
    with engine.begin() as conn:
        upgrade(conn, target)


def migrate_down(engine: Engine, target: str = "base") -> None:
    with engine.begin() as conn:
        downgrade(conn, target)


class TestUpgradeHead:
    def test_upgrade_head_on_an_empty_database_gives_a_schema_without_drift(
        self, store_url: str, engine: Engine
    ) -> None:
        assert table_names(engine) == set()
        assert revision(engine) is None

        migrate_up(engine)

        assert revision(engine) == head()
        assert table_names(engine) == READ_MODEL | event_tables(store_url) | {"alembic_version"}
        assert drift(engine) == []

    def test_the_drift_check_really_sees_a_missing_index(self, engine: Engine) -> None:
        migrate_up(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_deployment_attempts_occurred_at")

        diffs = drift(engine)

        assert [d[0] for d in diffs] == ["add_index"]
        assert diffs[0][1].name == "ix_deployment_attempts_occurred_at"

    def test_upgrade_head_twice_changes_nothing(self, engine: Engine) -> None:
        migrate_up(engine)
        migrate_up(engine)

        assert revision(engine) == head()
        assert drift(engine) == []

    def test_the_event_store_created_by_the_migrations_is_usable_by_a_ledger(
        self, store_url: str, engine: Engine
    ) -> None:
        migrate_up(engine)

        with Ledger.open(store_url, create=False) as ledger:
            first = ledger.record(report("rt-1", tenant="acme", messageId="rt-1-1"))
            second = ledger.record(report("rt-1", tenant="acme", success=False, messageId="rt-1-2"))
            state = ledger.current("acme", "rt-1")
            history = ledger.history("acme", "rt-1")
            page = ledger.audit(tenant_id="acme")

        assert second.position > first.position > 0
        assert state is not None
        assert (state.attempts, state.failures, state.state.label) == (2, 1, "Error")
        assert [a.attempt for a in history] == [2, 1]
        assert [a.position for a in page.items] == [second.position, first.position]


class TestDowngradeAndUpgradeAgain:
    def test_downgrade_base_drops_everything_and_upgrade_head_restores_it(
        self, store_url: str, engine: Engine
    ) -> None:
        migrate_up(engine)

        migrate_down(engine)

        assert revision(engine) is None
        assert table_names(engine) <= {"alembic_version"}

        migrate_up(engine)

        assert revision(engine) == head()
        assert table_names(engine) == READ_MODEL | event_tables(store_url) | {"alembic_version"}
        assert drift(engine) == []
        with Ledger.open(store_url, create=False) as ledger:
            receipt = ledger.record(report("rt-again", messageId="rt-again-1"))
            assert ledger.audit().items[0].position == receipt.position

    def test_downgrading_only_the_read_model_keeps_the_events_and_catch_up_restores_the_view(
        self, store_url: str, engine: Engine
    ) -> None:
        migrate_up(engine)
        with Ledger.open(store_url, create=False) as ledger:
            ledger.record_many(
                reports(
                    9,
                    rtid=lambda i, _: f"rt-{i % 3}",
                    success=lambda i, _: i % 2 == 0,
                    message=lambda i, _: f"attempt {i}",
                    messageId=lambda i, _: f"m-{i}",
                )
            )
            ledger.catch_up()
        before = view_rows(engine)
        assert len(before[1]) == 9

        migrate_down(engine, "0001")

        assert revision(engine) == "0001"
        assert table_names(engine) & READ_MODEL == set()
        assert event_tables(store_url) <= table_names(engine)

        migrate_up(engine)
        with Ledger.open(store_url, create=False) as ledger:
            assert ledger.read_position() == 0
            assert ledger.catch_up() == 12  # 3 registrations + 9 attempts

        assert view_rows(engine) == before
        with engine.connect() as conn:
            assert conn.execute(select(projection_tracking.c.position)).scalar_one() == 12

    @pytest.mark.postgres
    def test_downgrade_base_on_postgres_also_drops_the_composite_type(
        self, fresh_postgres: str
    ) -> None:
        with engine_for(fresh_postgres) as made:
            migrate_up(made)
            migrate_down(made)
            with made.connect() as conn:
                found = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_type WHERE typname = 'stored_event_uuid'"
                ).scalar_one()
                sequences = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_class WHERE relkind = 'S'"
                ).scalar_one()
            assert found == 0
            assert sequences == 0
            migrate_up(made)
            assert drift(made) == []


def _pg_table_shape(dsn: str, table: str) -> dict[str, Any]:
    """Columns, indexes, constraints and storage options of one table, by name."""
    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default, ordinal_position "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename = %s ORDER BY indexname",
            (table,),
        ).fetchall()
        constraints = conn.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) ORDER BY conname",
            (f"public.{table}",),
        ).fetchall()
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", (f"public.{table}",)
        ).fetchone()
        composite = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_type t "
            "JOIN pg_attribute a ON a.attrelid = t.typrelid "
            "WHERE t.typname = 'stored_event_uuid' ORDER BY a.attnum"
        ).fetchall()
    return {
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "options": options,
        "composite type": composite,
    }


@pytest.mark.postgres
class TestPostgresEventStoreDDL:
    def test_the_migrated_event_store_matches_what_eventsourcing_itself_creates(
        self, fresh_postgres: str, postgres_admin_dsn: str
    ) -> None:
        with engine_for(fresh_postgres) as made:
            migrate_up(made)
        library_url = create_database(postgres_admin_dsn, prefix="dl_es_ddl")
        try:
            parsed = parse_store_url(library_url)
            datastore = PostgresDatastore(
                dbname=parsed.dbname,
                host=parsed.host,
                port=str(parsed.port),
                user=parsed.user,
                password=parsed.password,
            )
            try:
                PostgresApplicationRecorder(
                    datastore, events_table_name="deployledger_events"
                ).create_table()
                PostgresAggregateRecorder(
                    datastore, events_table_name="deployledger_snapshots"
                ).create_table()
            finally:
                datastore.close()

            for table in ("deployledger_events", "deployledger_snapshots"):
                ours = _pg_table_shape(fresh_postgres, table)
                theirs = _pg_table_shape(library_url, table)
                assert ours["columns"], table
                assert ours == theirs, table
        finally:
            drop_database(postgres_admin_dsn, library_url)


class TestPackaging:
    def test_the_migration_scripts_are_inside_the_installed_package(self) -> None:
        package = Path(deployledger.__file__).resolve().parent
        versions = sorted(p.name for p in (package / "migrations" / "versions").glob("*.py"))

        assert versions == [
            "0001_event_store.py",
            "0002_read_model.py",
            "0003_insert_function.py",
            "0004_occurred_at.py",
            "0005_lifecycle.py",
            "0006_api_tokens.py",
            "0007_failure_insights.py",
            "0008_state_history.py",
            "0009_merkle_log.py",
            "0010_intake.py",
            "0011_sinks.py",
        ]
        assert (package / "migrations" / "env.py").is_file()
        assert (package / "migrations" / "script.py.mako").is_file()
        assert Path(runner.HERE) == package / "migrations"
        script = ScriptDirectory(str(runner.HERE))
        revisions = {r.revision for r in script.walk_revisions()}
        assert revisions == {
            "0001",
            "0002",
            "0003",
            "0004",
            "0005",
            "0006",
            "0007",
            "0008",
            "0009",
            "0010",
            "0011",
        }
        assert head() == "0011"

    def test_every_migration_file_is_matched_by_the_package_data_of_the_wheel(self) -> None:
        config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
        patterns = config["tool"]["setuptools"]["package-data"]["deployledger"]
        package = REPO / "deployledger"
        # Files outside a regular package (a folder without __init__.py) ship only through
        # package-data; the versions folder is one.
        loose = [
            p.relative_to(package).as_posix()
            for p in (package / "migrations").rglob("*")
            if p.is_file()
            and "__pycache__" not in p.parts
            and not (p.suffix == ".py" and (p.parent / "__init__.py").is_file())
        ]

        assert "migrations/versions/0002_read_model.py" in loose
        unmatched = [f for f in loose if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
        assert unmatched == []
