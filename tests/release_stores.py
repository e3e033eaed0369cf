"""What the tests of stores written by earlier releases share (tests/fixtures/release_*).

Each fixture directory holds a SQLite store and a PostgreSQL dump that a release wrote,
what the release answered on them through the public API (expected.json), and the
make_fixture.py that regenerated all three with the release installed in its own
virtualenv. A test opens a copy of a store with the current code, compares every answer
with the release's (through an `as_of_...` function that undoes what changed on purpose
since that release), rebuilds the read model, and writes to the store.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from deployledger import Ledger, SchemaMissing
from deployledger.domain.insights.failures import categorize, fingerprint

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The timestamps the ledger stamped itself: they differ from store to store.
CLOCK_KEYS = ("recordedAt", "lastAttemptAt", "lastSuccessAt", "lastFailureAt")

AsOf = Callable[[Any], Any]


@dataclass(frozen=True)
class ReleaseFixture:
    """One release's fixture directory, with its expected.json loaded."""

    name: str  # the directory under tests/fixtures, e.g. release_0_1_0
    expected: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expected", json.loads(self.unpacked("expected.json")))

    def unpacked(self, name: str) -> bytes:
        """A fixture file's bytes: the fixtures are kept gzipped (small in the repository)."""
        return gzip.decompress((FIXTURES / self.name / f"{name}.gz").read_bytes())

    @property
    def release(self) -> str:
        return str(self.expected["release"])

    @property
    def answers(self) -> dict[str, Any]:
        """The release's answers without the clock (see `without_clock`)."""
        answers: dict[str, Any] = self.expected["answers"]
        return answers

    def sqlite_copy(self, directory: Path) -> str:
        """The URL of a copy of the release's SQLite store in `directory`."""
        path = directory / "store.db"
        path.write_bytes(self.unpacked("store.db"))
        return f"sqlite:///{path}"


# -- what the new code adds: the deployment lifecycle (issue 8) ---------------------------

# JSON keys the lifecycle adds to Receipt, WorkloadState and Attempt. In a store without
# lifecycle events (every store written before it) each has one possible value.
LIFECYCLE_KEYS = (
    "kind",  # Receipt, Attempt
    # WorkloadState
    "poolRtId",
    "workloadType",
    "deployedChartName",
    "deployedChartVersion",
    "pendingChartName",
    "pendingChartVersion",
    "requestedAt",
    "lastDurationSeconds",
    "undeployedAt",
    # Attempt
    "chartName",
    "chartVersion",
    "requestPosition",
    "durationSeconds",
    "helmOperation",
    "exitCode",
    # Attempt, since issue 20: derived from the message by the failure rules
    "category",
    "fingerprint",
)
# What names an answer in a failure message.
IDENTITY = ("tenantId", "workloadRtId", "attempt", "messageId", "position")
# The upstream operator's message format, read out of any stored status message.
HELM_FAILURE = re.compile(r"^helm (.+?) failed with exit code (-?\d+)\. stderr: ", re.DOTALL)


def helm_failure(message: str | None) -> tuple[str | None, int | None]:
    """(helm operation, exit code) of a message in the operator's format, else Nones."""
    match = HELM_FAILURE.match(message or "")
    return (None, None) if match is None else (match.group(1), int(match.group(2)))


def lifecycle_values(item: dict[str, Any]) -> dict[str, Any]:
    """What each lifecycle key of `item` must say when the store has no lifecycle events:
    every message is an outcome, no request was ever seen, nothing was undeployed."""
    want: dict[str, Any] = {key: None for key in LIFECYCLE_KEYS if key in item}
    if "kind" in want:
        want["kind"] = "outcome"
    operation, exit_code = helm_failure(item.get("statusMessage"))
    if "helmOperation" in want:
        want["helmOperation"] = operation
    if "exitCode" in want:
        want["exitCode"] = exit_code
    failed = item.get("success") is False
    if "category" in want and failed:
        want["category"] = categorize(item.get("statusMessage"))
    if "fingerprint" in want and failed:
        want["fingerprint"] = fingerprint(item.get("statusMessage"))
    return want


def as_of_0_2_0(value: Any) -> Any:
    """Answers as release 0.2.0 gave them: the lifecycle's keys checked, then dropped."""
    if isinstance(value, dict):
        added = {key: value[key] for key in LIFECYCLE_KEYS if key in value}
        want = lifecycle_values(value)
        if added != want:
            which = {k: value[k] for k in IDENTITY if k in value}
            raise AssertionError(f"lifecycle keys of {which}: {added} != {want}")
        return {k: as_of_0_2_0(v) for k, v in value.items() if k not in LIFECYCLE_KEYS}
    if isinstance(value, list):
        return [as_of_0_2_0(v) for v in value]
    return value


# -- answers ----------------------------------------------------------------------------


def audit_call(query: dict[str, Any]) -> dict[str, Any]:
    """An audit query as kept in expected.json, as keyword arguments: `since` and `until`
    are ISO text there, datetimes in the call."""
    return {
        k: datetime.fromisoformat(v) if k in ("since", "until") else v for k, v in query.items()
    }


def audit_pages(ledger: Ledger, query: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages = []
    cursor = None
    while True:
        page = ledger.audit(**audit_call(query), cursor=cursor)
        pages.append(
            [
                {"tenantId": a.tenant_id, "workloadRtId": a.workload_rt_id, **a.to_json()}
                for a in page.items
            ]
        )
        cursor = page.next_cursor
        if cursor is None:
            return pages


def answers(ledger: Ledger, fixture: ReleaseFixture) -> dict[str, Any]:
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
            for item in fixture.answers["audit"]
        ],
    }


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


def assert_release_answers(
    url: str,
    backend: str,
    fixture: ReleaseFixture,
    as_of: AsOf,
    *,
    same_clock: tuple[str, ...] = CLOCK_KEYS,
) -> None:
    """Every answer is the release's; of the ledger's own timestamps, those in
    `same_clock` are exactly the release's too."""
    with Ledger.open(url) as ledger:  # a new ledger: every workload loads cold
        found = as_of(answers(ledger, fixture))
    assert_times_are_when_attempts_occurred(found)
    bare = without_clock(found)
    want = fixture.answers
    # Section by section, so that a failure shows a readable difference.
    for section in ("maxPosition", "workloads", "current"):
        assert bare[section] == want[section], section
    for key, attempts in want["history"].items():
        assert bare["history"].get(key) == attempts, f"history of {key}"
    assert bare["history"].keys() == want["history"].keys()
    for got, wanted in zip(bare["audit"], want["audit"], strict=True):
        assert got == wanted, f"audit {wanted['query']}"
    pairs = list(zip(clock(found, named=True), fixture.expected["clock"][backend], strict=True))
    assert [got for (name, got), _ in pairs if name in same_clock] == [
        wanted for (name, _), wanted in pairs if name in same_clock
    ]


def assert_rebuild_changes_nothing(
    url: str,
    backend: str,
    fixture: ReleaseFixture,
    as_of: AsOf,
    *,
    same_clock: tuple[str, ...] = CLOCK_KEYS,
) -> None:
    """A rebuild of the read model gives the same read model, and the release's answers."""
    with Ledger.open(url) as ledger:
        workloads = [w.to_json() for w in ledger.workloads()]
        every_attempt = audit_pages(ledger, {"limit": 100})
        ledger.rebuild()
        assert [w.to_json() for w in ledger.workloads()] == workloads
        assert audit_pages(ledger, {"limit": 100}) == every_attempt
    assert without_clock(as_of(workloads)) == fixture.answers["workloads"]
    assert_release_answers(url, backend, fixture, as_of, same_clock=same_clock)


def assert_still_writable(
    url: str,
    fixture: ReleaseFixture,
    as_of: AsOf,
    *,
    bulk: tuple[str, str],
    example: tuple[str, str],
    resent_attempt: int,
) -> int:
    """New attempts follow on (`bulk` has a snapshot), and a message id recorded before the
    snapshot (`resent_attempt` of `bulk`) is still a duplicate. Returns the new max
    position (two events were added)."""
    want = fixture.answers
    last: int = want["maxPosition"]
    bulk_key, example_key = "/".join(bulk), "/".join(example)
    before = want["current"][bulk_key]
    example_before = want["current"][example_key]
    resent = next(a for a in want["history"][bulk_key] if a["attempt"] == resent_attempt)
    example_last = want["history"][example_key][0]
    with Ledger.open(url) as ledger:
        receipt = ledger.record(
            {
                "tenantId": bulk[0],
                "workloadRtId": bulk[1],
                "workloadName": before["workloadName"],
                "poolName": before["poolName"],
                "success": False,
                "statusMessage": "Error: UPGRADE FAILED: recorded by the new code",
                "messageId": "after-upgrade-1",
                "reportedAt": "2026-12-01T09:00:00+01:00",
            }
        )
        assert (receipt.attempt, receipt.position, receipt.duplicate) == (
            before["attempts"] + 1,
            last + 1,
            False,
        )
        # A message id the release recorded before the snapshot, sent again with the same
        # content: still a duplicate.
        resend = ledger.record(
            {
                "tenantId": bulk[0],
                "workloadRtId": bulk[1],
                **{
                    key: resent[key]
                    for key in ("workloadName", "poolName", "success", "statusMessage")
                },
                "reportedAt": resent["reportedAt"],
                "messageId": resent["messageId"],
            }
        )
        assert (resend.attempt, resend.position, resend.duplicate) == (
            resent_attempt,
            resent["position"],
            True,
        )
        other = ledger.record(
            {
                "tenantId": example[0],
                "workloadRtId": example[1],
                "workloadName": example_last["workloadName"],
                "poolName": example_last["poolName"],
                "success": True,
                "statusMessage": "release upgraded by the new code",
                "messageId": "after-upgrade-2",
            }
        )
        assert (other.attempt, other.position) == (example_before["attempts"] + 1, last + 2)
        for got in (receipt, resend, other):
            as_of(got.to_json())  # an outcome, and nothing else
        assert [a.position for a in ledger.audit(limit=2).items] == [last + 2, last + 1]

    with Ledger.open(url) as ledger:  # cold again: the snapshot, then the events after it
        state = ledger.current(*bulk)
        assert state is not None
        assert (state.attempts, state.failures, state.consecutive_failures) == (
            before["attempts"] + 1,
            before["failures"] + 1,
            1,
        )
        assert (state.to_json()["state"], state.status_message) == (
            "Error",
            "Error: UPGRADE FAILED: recorded by the new code",
        )
        history = as_of([a.to_json() for a in ledger.history(*bulk)])
        assert [a["attempt"] for a in history[:2]] == [before["attempts"] + 1, before["attempts"]]
        assert history[0]["reportedAt"] == "2026-12-01T09:00:00+01:00"
        assert without_clock(history[1:]) == want["history"][bulk_key]  # the old ones as they were
        fleet = {(w.tenant_id, w.workload_rt_id): w.attempts for w in ledger.workloads()}
        assert fleet[bulk] == before["attempts"] + 1
        assert fleet[example] == example_before["attempts"] + 1
        assert ledger.max_position() == last + 2
    return last + 2


# -- PostgreSQL --------------------------------------------------------------------------


def load_dump(url: str, fixture: ReleaseFixture) -> None:
    """Restore the fixture's plain pg_dump into the (empty) database at `url` with psql."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip(f"psql is not on PATH: it restores the PostgreSQL dump of {fixture.release}")
    # \restrict and \unrestrict (pg_dump since 17.6, 16.10, 15.14 ...) only guard against a
    # hostile dump; older psql clients do not know them.
    script = "".join(
        line
        for line in fixture.unpacked("postgres.sql").decode("utf-8").splitlines(keepends=True)
        if not line.startswith(("\\restrict ", "\\unrestrict "))
    )
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", url],
        input=script.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def migrate(url: str) -> str | None:
    """Bring a PostgreSQL store's schema up to this code's, as `deployledger migrate` does.

    Workers (no `create`) refuse an older schema and say what to do: the refusal is
    returned, or None when the schema was already this code's.
    """
    try:
        Ledger.open(url).close()
    except SchemaMissing as e:
        refused: str | None = str(e)
    else:
        refused = None
    with Ledger.open(url, create=True):
        pass
    return refused
