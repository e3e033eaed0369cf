"""Stores written by release 0.2.0 (commit 0193336) open and read unchanged with this code.

Release 0.2.0 is the release before the deployment lifecycle (its pyproject still says
0.1.0). tests/fixtures/release_0_2_0 holds a SQLite store and a PostgreSQL dump that it
wrote, and what it answered on them through the public API (expected.json); make_fixture.py
there regenerates all three with the release installed in its own virtualenv. Beside what
the 0.1.0 fixture has, these stores hold status messages cut in the middle
(`messageTruncated`), reportedAt in a dozen zones, one older than the attempt before it,
and messages in the upstream operator's `helm {operation} failed with exit code {N}.
stderr: ...` format (and near misses of it).

Each test opens a copy of a store with the current code and checks every answer against
the release's: exactly, ledger timestamps included, once the keys the lifecycle added are
checked and dropped (`as_of_0_2_0`: in a store without lifecycle events they are all None,
but an outcome's `kind`, and the helm operation and exit code read out of a stored
message). Then that a rebuild of the read model changes nothing, and that the store is
still writable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_stores import (
    ReleaseFixture,
    as_of_0_2_0,
    assert_rebuild_changes_nothing,
    assert_release_answers,
    assert_still_writable,
    helm_failure,
    load_dump,
    migrate,
)

from deployledger import Ledger

FIXTURE = ReleaseFixture("release_0_2_0")
BULK = ("wayne-ent", "66c000000000000000000001")  # 230 attempts: a snapshot at 200 events
EXAMPLE = ("acme-prod", "64f1c0ffee0000000000beef")
CUT = ("stark-ind", "66d000000000000000000001")  # two messages cut at 4096 bytes
CUT_LIMIT = 4096


def test_the_fixture_holds_what_it_is_for() -> None:
    """What 0.2.0 could write and 0.1.0 could not is in the release's answers, and the
    helm format is read as the lifecycle code must read it."""
    answers = FIXTURE.answers
    assert FIXTURE.expected["commit"] == "0193336"
    cut = answers["history"]["/".join(CUT)]
    assert [a["messageTruncated"] for a in cut] == [False, True, True]
    assert all(len(a["statusMessage"].encode()) <= CUT_LIMIT for a in cut)
    attempts = [a for history in answers["history"].values() for a in history]
    zones = {a["reportedAt"][-6:] for a in attempts if a["reportedAt"]}
    assert len(zones) >= 10, zones
    assert answers["current"]["/".join(BULK)]["attempts"] == 230
    helm = {
        (a["messageId"], *helm_failure(a["statusMessage"]))
        for a in attempts
        if helm_failure(a["statusMessage"]) != (None, None)
    }
    assert helm == {
        (
            "gen-0010",
            "upgrade --install payments-gateway umbrella-charts/payments "
            "--namespace payments --version 4.2.1 --atomic",
            1,
        ),
        ("gen-0011", "repo add umbrella-charts https://charts.umbrella.example/stable", 1),
        ("gen-0012", "repo update hooli-charts", -1),
        ("gen-0013", "upgrade --install search-indexer umbrella-charts/search", 2),
        (
            "gen-0018",
            "upgrade --install arc-reactor-telemetry stark-charts/telemetry --version 0.9.0",
            1,
        ),  # cut in the middle: its head is kept
        ("b161", "upgrade --install batcomputer-api wayne-charts/api", 1),
    }
    near_misses = {"gen-0014", "gen-0015", "gen-0016"}
    assert all(
        helm_failure(a["statusMessage"]) == (None, None)
        for a in attempts
        if a["messageId"] in near_misses
    )
    assert len([a for a in attempts if a["messageId"] in near_misses]) == 3


def assert_cut_store_still_writable(url: str, last: int) -> None:
    """The workload with cut messages takes another one, and the id the release recorded
    for its latest attempt (256 characters long) is still a duplicate."""
    history = FIXTURE.answers["history"]["/".join(CUT)]
    latest = history[0]
    oversized = (
        "helm upgrade --install arc-reactor-telemetry stark-charts/telemetry --version 0.9.1 "
        "failed with exit code 1. stderr: " + "Error: UPGRADE FAILED: timed out\n" * 500
    )
    with Ledger.open(url, max_message_bytes=CUT_LIMIT) as ledger:
        resend = ledger.record(
            {
                "tenantId": CUT[0],
                "workloadRtId": CUT[1],
                **{
                    key: latest[key]
                    for key in ("workloadName", "poolName", "success", "statusMessage")
                },
                "reportedAt": latest["reportedAt"],
                "messageId": latest["messageId"],
            }
        )
        assert (resend.attempt, resend.position, resend.duplicate) == (
            latest["attempt"],
            latest["position"],
            True,
        )
        receipt = ledger.record(
            {
                "tenantId": CUT[0],
                "workloadRtId": CUT[1],
                "workloadName": latest["workloadName"],
                "poolName": latest["poolName"],
                "success": False,
                "statusMessage": oversized,
                "messageId": "after-upgrade-3",
                "reportedAt": "2026-12-01T10:00:00+05:45",
            }
        )
        assert (receipt.attempt, receipt.position, receipt.duplicate) == (
            len(history) + 1,
            last + 1,
            False,
        )
    with Ledger.open(url) as ledger:
        newest = as_of_0_2_0([a.to_json() for a in ledger.history(*CUT)])
        assert newest[0]["messageTruncated"] is True
        assert newest[0]["statusMessage"].startswith(oversized[:120])
        assert len(newest[0]["statusMessage"].encode()) <= CUT_LIMIT
        assert [a["attempt"] for a in newest] == [
            len(history) + 1,
            *(a["attempt"] for a in history),
        ]
        state = ledger.current(*CUT)
        assert state is not None
        assert (state.attempts, state.consecutive_failures) == (len(history) + 1, 1)
        assert ledger.max_position() == last + 1


def assert_history_backfilled(url: str) -> None:
    """Migration 0008 gave the release's store its history: as of the far future the fleet
    is today's, and as of each attempt's effective time (the running maximum of reportedAt,
    else recording time) a workload has exactly the attempts effective by then."""
    with Ledger.open(url) as ledger:
        fleet = ledger.workloads()
        assert ledger.workloads(at=datetime(2100, 1, 1, tzinfo=UTC)) == fleet
        checked = 0
        for state in fleet:
            attempts = ledger.history(state.tenant_id, state.workload_rt_id)[::-1]
            effective: list[datetime] = []
            for attempt in attempts:
                occurred = attempt.reported_at or attempt.recorded_at
                effective.append(max(effective[-1], occurred) if effective else occurred)
            for moment in effective:
                then = ledger.get(state.tenant_id, state.workload_rt_id, at=moment)
                assert then.attempts == sum(1 for e in effective if e <= moment)
                checked += 1
            before = effective[0] - timedelta(microseconds=1)
            assert ledger.current(state.tenant_id, state.workload_rt_id, at=before) is None
        assert checked > 100


def check_store(url: str, backend: str) -> None:
    assert_release_answers(url, backend, FIXTURE, as_of_0_2_0)
    assert_history_backfilled(url)
    assert_rebuild_changes_nothing(url, backend, FIXTURE, as_of_0_2_0)
    last = assert_still_writable(
        url, FIXTURE, as_of_0_2_0, bulk=BULK, example=EXAMPLE, resent_attempt=5
    )
    assert_cut_store_still_writable(url, last)


def test_sqlite_store_of_release_0_2_0(tmp_path: Path) -> None:
    check_store(FIXTURE.sqlite_copy(tmp_path), "sqlite")


@pytest.mark.postgres
def test_postgres_store_of_release_0_2_0(fresh_postgres: str) -> None:
    load_dump(fresh_postgres, FIXTURE)
    # 0.2.0's schema is revision 0004: a later one is refused until migrated.
    refused = migrate(fresh_postgres)
    assert refused is None or re.search(
        r"schema revision 0004, this release needs \d{4}", refused
    ), refused

    check_store(fresh_postgres, "postgres")
