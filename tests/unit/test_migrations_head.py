"""The HEAD constant that lets a ledger open without Alembic must name the real head."""

from alembic.script import ScriptDirectory

from deployledger.migrations import HEAD
from deployledger.migrations.runner import HERE


def test_head_constant_names_the_latest_migration_script() -> None:
    assert ScriptDirectory(str(HERE)).get_current_head() == HEAD
