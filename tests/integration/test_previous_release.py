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
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from deployledger import Ledger, SchemaMissing

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


# What changed on purpose since 0.1.0, undone here so the rest compares exactly:
# - attempts carry `messageTruncated` (always false in a 0.1.0 store: it refused them);
# - a workload's last attempt, success and failure times are when the attempts occurred
#   (the sender's reportedAt, else the recording time), not when they were recorded.
CHANGED_TIMES = ("lastAttemptAt", "lastSuccessAt", "lastFailureAt")


def as_of_0_1_0(value: Any) -> Any:
    if isinstance(value, dict):
        if "messageTruncated" in value:
            assert value["messageTruncated"] is False
        return {k: as_of_0_1_0(v) for k, v in value.items() if k != "messageTruncated"}
    if isinstance(value, list):
        return [as_of_0_1_0(v) for v in value]
    return value


def occurred(attempt: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(attempt["reportedAt"] or attempt["recordedAt"])


def assert_times_are_when_attempts_occurred(found: dict[str, Any]) -> None:
    """Each workload's last attempt/success/failure time is the occurred-at of its newest
    such attempt (history is newest first), in the ledger and in the read model alike."""
    rows = {f"{w['tenantId']}/{w['workloadRtId']}": w for w in found["workloads"]}
    for key, state in found["current"].items():
        history = found["history"][key]
        newest = {
            "lastAttemptAt": next(iter(history), None),
            "lastSuccessAt": next((a for a in history if a["success"]), None),
            "lastFailureAt": next((a for a in history if not a["success"]), None),
        }
        for name, attempt in newest.items():
            want = None if attempt is None else occurred(attempt)
            for answer in (state, rows[key]):
                got = answer[name] and datetime.fromisoformat(answer[name])
                assert got == want, f"{name} of {key}"


def without_clock(value: Any) -> Any:
    """The answers without the timestamps the ledger stamped itself (they differ per store)."""
    if isinstance(value, dict):
        return {k: without_clock(v) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [without_clock(v) for v in value]
    return value


def clock(value: Any, *, named: bool = False) -> list[Any]:
    """Those timestamps, in the order make_fixture.py listed them (with `named`, each as
    (key, timestamp))."""
    if isinstance(value, dict):
        found = [(k, value[k]) if named else value[k] for k in CLOCK_KEYS if k in value]
        return found + [
            t for k, v in value.items() if k not in CLOCK_KEYS for t in clock(v, named=named)
        ]
    if isinstance(value, list):
        return [t for v in value for t in clock(v, named=named)]
    return []


def assert_release_answers(url: str, backend: str) -> None:
    with Ledger.open(url) as ledger:  # a new ledger: every workload loads cold
        found = as_of_0_1_0(answers(ledger))
    assert_times_are_when_attempts_occurred(found)
    bare = without_clock(found)
    # Section by section, so that a failure shows a readable difference.
    for section in ("maxPosition", "workloads", "current"):
        assert bare[section] == ANSWERS[section], section
    for key, attempts in ANSWERS["history"].items():
        assert bare["history"].get(key) == attempts, f"history of {key}"
    assert bare["history"].keys() == ANSWERS["history"].keys()
    for got, want in zip(bare["audit"], ANSWERS["audit"], strict=True):
        assert got == want, f"audit {want['query']}"
    # The recording times are exactly 0.1.0's (the changed times are checked above).
    pairs = list(zip(clock(found, named=True), EXPECTED["clock"][backend], strict=True))
    assert [got for (name, got), _ in pairs if name == "recordedAt"] == [
        want for (name, _), want in pairs if name == "recordedAt"
    ]


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
        # A message id the release recorded before the snapshot, sent again with the same
        # content: still a duplicate.
        resend = ledger.record(
            {
                "tenantId": BULK[0],
                "workloadRtId": BULK[1],
                **{
                    key: fifth[key]
                    for key in ("workloadName", "poolName", "success", "statusMessage")
                },
                "reportedAt": fifth["reportedAt"],
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
    with pytest.raises(SchemaMissing, match="revision 0003, this release needs 0004"):
        Ledger.open(fresh_postgres)  # workers refuse an old schema, and say what to do
    with Ledger.open(fresh_postgres, create=True):  # what `deployledger migrate` does
        pass

    assert_release_answers(fresh_postgres, "postgres")
    assert_rebuild_changes_nothing(fresh_postgres)
    assert_still_writable(fresh_postgres)
