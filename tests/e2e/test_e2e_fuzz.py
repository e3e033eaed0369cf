"""Bad input in bulk: hundreds of generated malformed inputs through the CLI (issue 7.11).

Each input carries exactly one defect (tests/malformed.py): broken JSON, a wrong type, a
missing field, an over-long or control-character id, a huge number, deep nesting, or bytes
that are not UTF-8. Each must exit 2 with one line of error and no traceback, and the event
table must be byte-identical afterwards. The CLI runs in-process (`deployledger.cli.main`)
on one persistent store per backend. The parser itself takes 10,000 of them in CI, at unit
level (tests/unit/test_record_fuzz.py); here, the number of examples per backend is
`DEPLOYLEDGER_FUZZ_EXAMPLES`, else 300.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from malformed import MALFORMED, base
from support import create_database, drop_database, report

from deployledger import Ledger
from deployledger.cli import main

EXAMPLES = int(os.environ.get("DEPLOYLEDGER_FUZZ_EXAMPLES", "300"))


@contextlib.contextmanager
def stdin_bytes(data: bytes) -> Iterator[None]:
    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict")
    saved = sys.stdin
    sys.stdin = wrapper
    try:
        yield
    finally:
        sys.stdin = saved


def run(argv: list[str], data: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with stdin_bytes(data), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


def events_digest(url: str) -> str:
    digest = hashlib.sha256()
    if url.startswith("postgresql"):
        with psycopg.connect(url.replace("postgresql://", "postgresql://", 1)) as conn:
            rows = conn.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM deployledger_events ORDER BY notification_id"
            ).fetchall()
    else:
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            rows = conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY rowid"
            ).fetchall()
    for row in rows:
        digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'ledger.db'}"
        cleanup = None
    else:
        admin = request.getfixturevalue("postgres_admin_dsn")
        url = create_database(admin, prefix="dl_fuzz")
        cleanup = admin
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many([report(f"rt-{n}", tenant="t-fuzz") for n in range(5)])
    yield url
    if cleanup is not None:
        drop_database(cleanup, url)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 10,000 examples on each backend in CI
def test_malformed_input_exits_2_with_one_line_and_stores_nothing(fuzz_store: str) -> None:
    before = events_digest(fuzz_store)  # taken here, so the check never depends on another test

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(data=MALFORMED)
    def exits_2_with_one_line(data: bytes) -> None:
        code, out, err = run(["--store", fuzz_store, "record"], data)
        assert code == 2, (data[:200], err)
        assert out == ""
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err

    exits_2_with_one_line()
    assert events_digest(fuzz_store) == before, "the fuzzing changed the event table"


def test_a_malformed_report_leaves_the_event_table_byte_identical(fuzz_store: str) -> None:
    before = events_digest(fuzz_store)
    code, _, _ = run(["--store", fuzz_store, "record"], b'{"tenantId": 1}')
    assert code == 2
    assert events_digest(fuzz_store) == before


def test_the_harness_sees_a_valid_report_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    before = None
    with Ledger.open(url, create=True):
        before = events_digest(url)
    code, out, err = run(["--store", url, "record"], json.dumps(base()).encode())
    assert (code, err) == (0, "")
    assert "recorded t-fuzz/rt-fuzz attempt 1" in out
    assert events_digest(url) != before
