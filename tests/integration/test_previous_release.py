"""Stores written by release 0.1.0 (commit 3fc48a8) open and read unchanged with this code.

tests/fixtures/release_0_1_0 holds a SQLite store and a PostgreSQL dump that release 0.1.0
wrote, and what it answered on them through the public API (expected.json); make_fixture.py
there regenerates all three with the release installed in its own virtualenv. Each test
opens a copy of a store with the current code, checks every answer against the release's,
then that the store is still writable (the next attempt of a workload with a snapshot
follows on) and that a rebuild of the read model changes nothing.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployledger import Ledger

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release_0_1_0"


def unpacked(name: str) -> bytes:
    """A fixture file's bytes: the fixtures are kept gzipped (small in the repository)."""
    return gzip.decompress((FIXTURE / f"{name}.gz").read_bytes())


EXPECTED: dict[str, Any] = json.loads(unpacked("expected.json"))
ANSWERS: dict[str, Any] = EXPECTED["answers"]
CLOCK_KEYS = ("recordedAt", "lastAttemptAt", "lastSuccessAt", "lastFailureAt")
BULK = ("wayne-ent", "66c000000000000000000001")  # 230 attempts: a snapshot at 200 events
EXAMPLE = ("acme-prod", "64f1c0ffee0000000000beef")


def answers(ledger: Ledger) -> dict[str, Any]:
    """What the ledger answers, shaped as make_fixture.py shaped the release's answers."""
    fleet = ledger.workloads()
    current: dict[str, Any] = {}
    history: dict[str, Any] = {}
    for workload in fleet:
        key = (workload.tenant_id, workload.workload_rt_id)
        state = ledger.current(*key)
        current["/".join(key)] = None if state is None else state.to_json()
        history["/".join(key)] = [a.to_json() for a in ledger.history(*key)]
    return {
        "maxPosition": ledger.max_position(),
        "workloads": [w.to_json() for w in fleet],
        "current": current,
        "history": history,
        "audit": [
            {"query": item["query"], "pages": audit_pages(ledger, item["query"])}
            for item in ANSWERS["audit"]
        ],
    }


def audit_pages(ledger: Ledger, query: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages = []
    cursor = None
    while True:
        page = ledger.audit(**query, cursor=cursor)
        pages.append(
            [
                {"tenantId": a.tenant_id, "workloadRtId": a.workload_rt_id, **a.to_json()}
                for a in page.items
            ]
        )
        cursor = page.next_cursor
        if cursor is None:
            return pages


def without_clock(value: Any) -> Any:
    """The answers without the timestamps the ledger stamped itself (they differ per store)."""
    if isinstance(value, dict):
        return {k: without_clock(v) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [without_clock(v) for v in value]
    return value


def clock(value: Any) -> list[Any]:
    """Those timestamps, in the order make_fixture.py listed them."""
    if isinstance(value, dict):
        found = [value[k] for k in CLOCK_KEYS if k in value]
        return found + [t for k, v in value.items() if k not in CLOCK_KEYS for t in clock(v)]
    if isinstance(value, list):
        return [t for v in value for t in clock(v)]
    return []


def assert_release_answers(url: str, backend: str) -> None:
    with Ledger.open(url) as ledger:  # a new ledger: every workload loads cold
        found = answers(ledger)
    bare = without_clock(found)
    # Section by section, so that a failure shows a readable difference.
    for section in ("maxPosition", "workloads", "current"):
        assert bare[section] == ANSWERS[section], section
    for key, attempts in ANSWERS["history"].items():
        assert bare["history"].get(key) == attempts, f"history of {key}"
    assert bare["history"].keys() == ANSWERS["history"].keys()
    for got, want in zip(bare["audit"], ANSWERS["audit"], strict=True):
        assert got == want, f"audit {want['query']}"
    assert clock(found) == EXPECTED["clock"][backend]


def assert_rebuild_changes_nothing(url: str) -> None:
    with Ledger.open(url) as ledger:
        workloads = [w.to_json() for w in ledger.workloads()]
        every_attempt = audit_pages(ledger, {"limit": 100})
        ledger.rebuild()
        assert [w.to_json() for w in ledger.workloads()] == workloads
        assert audit_pages(ledger, {"limit": 100}) == every_attempt
    assert without_clock(workloads) == ANSWERS["workloads"]


def assert_still_writable(url: str) -> None:
    last = ANSWERS["maxPosition"]
    bulk = ANSWERS["current"]["/".join(BULK)]
    example = ANSWERS["current"]["/".join(EXAMPLE)]
    fifth = next(a for a in ANSWERS["history"]["/".join(BULK)] if a["attempt"] == 5)
    with Ledger.open(url) as ledger:
        receipt = ledger.record(
            {
                "tenantId": BULK[0],
                "workloadRtId": BULK[1],
                "workloadName": "batcomputer-api",
                "poolName": "pool-us-east-2",
                "success": False,
                "statusMessage": "Error: UPGRADE FAILED: recorded by the new code",
                "messageId": "after-upgrade-1",
                "reportedAt": "2026-12-01T09:00:00+01:00",
            }
        )
        assert (receipt.attempt, receipt.position, receipt.duplicate) == (
            bulk["attempts"] + 1,
            last + 1,
            False,
        )
        # A message id the release recorded before the snapshot: still a duplicate.
        resend = ledger.record(
            {
                "tenantId": BULK[0],
                "workloadRtId": BULK[1],
                "workloadName": "batcomputer-api",
                "success": True,
                "messageId": fifth["messageId"],
            }
        )
        assert (resend.attempt, resend.position, resend.duplicate) == (5, fifth["position"], True)
        other = ledger.record(
            {
                "tenantId": EXAMPLE[0],
                "workloadRtId": EXAMPLE[1],
                "workloadName": "checkout-api",
                "poolName": "pool-eu-west-1",
                "success": True,
                "statusMessage": "release checkout-api upgraded (revision 13)",
                "messageId": "after-upgrade-2",
            }
        )
        assert (other.attempt, other.position) == (example["attempts"] + 1, last + 2)
        assert [a.position for a in ledger.audit(limit=2).items] == [last + 2, last + 1]

    with Ledger.open(url) as ledger:  # cold again: the snapshot, then the events after it
        state = ledger.current(*BULK)
        assert state is not None
        assert (state.attempts, state.failures, state.consecutive_failures) == (
            bulk["attempts"] + 1,
            bulk["failures"] + 1,
            1,
        )
        assert (state.to_json()["state"], state.status_message) == (
            "Error",
            "Error: UPGRADE FAILED: recorded by the new code",
        )
        newest = ledger.history(*BULK, limit=2)
        assert [a.attempt for a in newest] == [bulk["attempts"] + 1, bulk["attempts"]]
        assert newest[0].reported_at is not None
        assert newest[0].reported_at.isoformat() == "2026-12-01T09:00:00+01:00"
        fleet = {(w.tenant_id, w.workload_rt_id): w.attempts for w in ledger.workloads()}
        assert fleet[BULK] == bulk["attempts"] + 1
        assert fleet[EXAMPLE] == example["attempts"] + 1
        assert ledger.max_position() == last + 2


def test_sqlite_store_of_release_0_1_0(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(unpacked("store.db"))
    url = f"sqlite:///{path}"

    assert_release_answers(url, "sqlite")
    assert_rebuild_changes_nothing(url)
    assert_still_writable(url)


def load_dump(url: str, dump: str) -> None:
    """Restore a plain pg_dump into the database at `url` with psql."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not on PATH: it restores the PostgreSQL dump of release 0.1.0")
    # \restrict and \unrestrict (pg_dump since 17.6, 16.10, 15.14 ...) only guard against a
    # hostile dump; older psql clients do not know them.
    script = "".join(
        line
        for line in dump.splitlines(keepends=True)
        if not line.startswith(("\\restrict ", "\\unrestrict "))
    )
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", url],
        input=script.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.mark.postgres
def test_postgres_store_of_release_0_1_0(fresh_postgres: str) -> None:
    load_dump(fresh_postgres, unpacked("postgres.sql").decode("utf-8"))

    assert_release_answers(fresh_postgres, "postgres")
    assert_rebuild_changes_nothing(fresh_postgres)
    assert_still_writable(fresh_postgres)
