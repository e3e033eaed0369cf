"""Stores written by release 0.1.0 (commit 3fc48a8) open and read unchanged with this code.

tests/fixtures/release_0_1_0 holds a SQLite store and a PostgreSQL dump that release 0.1.0
wrote, and what it answered on them through the public API (expected.json); make_fixture.py
there regenerates all three with the release installed in its own virtualenv. Each test
opens a copy of a store with the current code, checks every answer against the release's,
then that a rebuild of the read model changes nothing and that the store is still writable
(the next attempt of a workload with a snapshot follows on). The helpers are shared with
the tests of later releases' stores (tests/release_stores.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from release_stores import (
    ReleaseFixture,
    as_of_0_2_0,
    assert_rebuild_changes_nothing,
    assert_release_answers,
    assert_still_writable,
    load_dump,
    migrate,
)

FIXTURE = ReleaseFixture("release_0_1_0")
BULK = ("wayne-ent", "66c000000000000000000001")  # 230 attempts: a snapshot at 200 events
EXAMPLE = ("acme-prod", "64f1c0ffee0000000000beef")

# What changed on purpose since 0.1.0, undone here so the rest compares exactly:
# - attempts carry `messageTruncated` (always false in a 0.1.0 store: it refused them);
# - a workload's last attempt, success and failure times are when the attempts occurred
#   (the sender's reportedAt, else the recording time), not when they were recorded: so
#   of the ledger's own timestamps only `recordedAt` is compared with the release's (the
#   others are checked against the attempts' occurred-at);
# - and everything since 0.2.0 (`as_of_0_2_0`).
SAME_CLOCK = ("recordedAt",)


def as_of_0_1_0(value: Any) -> Any:
    value = as_of_0_2_0(value)
    if isinstance(value, dict):
        if "messageTruncated" in value:
            assert value["messageTruncated"] is False
        return {k: as_of_0_1_0(v) for k, v in value.items() if k != "messageTruncated"}
    if isinstance(value, list):
        return [as_of_0_1_0(v) for v in value]
    return value


def check_store(url: str, backend: str) -> None:
    assert_release_answers(url, backend, FIXTURE, as_of_0_1_0, same_clock=SAME_CLOCK)
    assert_rebuild_changes_nothing(url, backend, FIXTURE, as_of_0_1_0, same_clock=SAME_CLOCK)
    assert_still_writable(url, FIXTURE, as_of_0_1_0, bulk=BULK, example=EXAMPLE, resent_attempt=5)


def test_sqlite_store_of_release_0_1_0(tmp_path: Path) -> None:
    check_store(FIXTURE.sqlite_copy(tmp_path), "sqlite")


@pytest.mark.postgres
def test_postgres_store_of_release_0_1_0(fresh_postgres: str) -> None:
    load_dump(fresh_postgres, FIXTURE)
    # Workers refuse an old schema, and say what to do.
    refused = migrate(fresh_postgres)
    assert refused is not None
    assert re.search(r"schema revision 0003, this release needs \d{4}", refused), refused

    check_store(fresh_postgres, "postgres")
