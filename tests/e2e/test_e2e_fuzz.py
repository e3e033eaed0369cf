"""Bad input in bulk: thousands of generated malformed inputs through the CLI (issue 7.11).

Each input carries exactly one defect: broken JSON, a wrong type, a missing field, an
over-long or control-character id, a huge number, deep nesting, or bytes that are not
UTF-8. Each must exit 2 with one line of error and no traceback, and the event table must
be byte-identical afterwards. The CLI runs in-process (`deployledger.cli.main`) on one
persistent store per backend, so that 10,000 examples fit in CI's time. The number of
examples: `DEPLOYLEDGER_FUZZ_EXAMPLES`, else 10,000 in CI and 300 elsewhere.
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
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import create_database, drop_database, report

from deployledger import Ledger
from deployledger.cli import main

IN_CI = os.environ.get("CI", "").lower() == "true"
EXAMPLES = int(os.environ.get("DEPLOYLEDGER_FUZZ_EXAMPLES", "10000" if IN_CI else "300"))
REQUIRED = ["tenantId", "workloadName", "workloadRtId", "success"]
IDS = ["tenantId", "workloadName", "workloadRtId", "poolName", "messageId"]
WRONG = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.booleans(),
)
HUGE = st.sampled_from(["1e999", "-1e999", "9" * 5000, "1" + "0" * 400, "1e-999999"])
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(["\x7f", "\x9b"])


def base() -> dict[str, Any]:
    return report("rt-fuzz", tenant="t-fuzz", messageId="fuzz-1")


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    body = base()
    field = draw(st.sampled_from([*REQUIRED, "statusMessage", "reportedAt", "poolName"]))
    value: object = draw(WRONG.filter(lambda v: not isinstance(v, str)))
    if field in ("poolName", "statusMessage", "reportedAt") and value is None:
        value = 1
    if field == "success" and isinstance(value, bool):
        value = "true"
    body[field] = value
    return json.dumps(body).encode()


@st.composite
def missing_field(draw: st.DrawFn) -> bytes:
    body = base()
    del body[draw(st.sampled_from(REQUIRED))]
    return json.dumps(body).encode()


@st.composite
def bad_id(draw: st.DrawFn) -> bytes:
    body = base()
    field = draw(st.sampled_from(IDS))
    if draw(st.booleans()):
        body[field] = "x" * draw(st.integers(257, 5000))
    else:
        text = draw(st.text(min_size=1, max_size=10).filter(lambda t: t.strip() == t != ""))
        at = draw(st.integers(0, len(text)))
        body[field] = text[:at] + draw(CONTROL) + text[at:]
    return json.dumps(body).encode()


@st.composite
def huge_number(draw: st.DrawFn) -> bytes:
    field = draw(st.sampled_from([*REQUIRED, "statusMessage", "messageId"]))  # keys base() has
    text = json.dumps(base())
    key = f'"{field}": '
    start = text.index(key) + len(key)
    end = start + len(json.dumps(base()[field]))
    return (text[:start] + draw(HUGE) + text[end:]).encode()


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1_000, 200_000))
    where = draw(st.sampled_from(["statusMessage", "success", "extra", "top"]))
    nested = (
        "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
    )
    if where == "top":
        return nested.encode()
    body = json.dumps(base())[:-1]
    return f'{body}, "{where}": {nested}}}'.encode()


@st.composite
def broken_json(draw: st.DrawFn) -> bytes:
    text = json.dumps(base())
    cut = draw(st.integers(1, len(text) - 1))
    how = draw(st.sampled_from(["truncate", "insert", "drop"]))
    if how == "truncate":
        return text[:cut].encode()
    if how == "insert":
        # Not a brace or bracket: those would split the input into several reports, each
        # with problems of its own (all listed), where this test wants one defect.
        broken = text[:cut] + draw(st.sampled_from(list(",:'x\\"))) + text[cut:]
    else:
        broken = text[: cut - 1] + text[cut:] if text[cut - 1] in '{}[]:,"' else "{"
    try:
        json.loads(broken)
    except ValueError:
        return broken.encode()
    return text[:cut].encode()  # the change happened to be valid JSON: cut the object short


@st.composite
def not_utf8(draw: st.DrawFn) -> bytes:
    text = json.dumps(base()).encode()
    cut = draw(st.integers(0, len(text)))
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80\x80"]))
    return text[:cut] + bad + text[cut:]


MALFORMED = st.one_of(
    broken_json(),
    wrong_type(),
    missing_field(),
    bad_id(),
    huge_number(),
    deep_nesting(),
    not_utf8(),
)


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
