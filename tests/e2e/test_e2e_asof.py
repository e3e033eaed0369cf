"""`status --at` and `show --at` through the installed CLI, on both backends, over
examples/reports.jsonl: the fleet as it was at past moments, against a replay of the
examples computed here (every example report has a reportedAt, so a workload's effective
time is the running maximum of its reportedAt values).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import (
    EXAMPLE_RT_ID,
    EXAMPLE_TENANT,
    Cli,
    create_database,
    drop_database,
    report,
    sqlite_only,
)
from test_e2e_fuzz import run

from deployledger import Ledger

MOMENTS = ["2026-11-18T12:00:00Z", "2026-11-19T12:00:00Z", "2026-11-20T18:00:00+01:00"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def replay(examples: list[dict[str, Any]], at: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Each workload's (state, attempts, failures, pool) after its last report by `at`."""
    fleet: dict[tuple[str, str], dict[str, Any]] = {}
    effective: dict[tuple[str, str], datetime] = {}
    for sent in examples:
        key = (sent["tenantId"], sent["workloadRtId"])
        occurred = moment(sent["reportedAt"])
        effective[key] = max(effective.get(key, occurred), occurred)
        if effective[key] > at:
            continue
        was = fleet.get(key, {"attempts": 0, "failures": 0})
        fleet[key] = {
            "state": "Deployed" if sent["success"] else "Error",
            "attempts": was["attempts"] + 1,
            "failures": was["failures"] + (0 if sent["success"] else 1),
            "poolName": sent["poolName"],
        }
    return fleet


def summary(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["tenantId"], r["workloadRtId"]): {
            k: r[k] for k in ("state", "attempts", "failures", "poolName")
        }
        for r in rows
    }


class TestStatusAt:
    def test_the_fleet_and_a_pool_at_past_moments_match_the_replay(
        self, recorded: str, cli: Cli, examples: list[dict[str, Any]]
    ) -> None:
        for text in MOMENTS:
            expected = replay(examples, moment(text))
            assert len(expected) > 0
            found = cli("status", "--at", text, "-o", "json", store=recorded).json()
            assert summary(found) == expected, text
            assert [(r["tenantId"], r["workloadRtId"]) for r in found] == sorted(expected)
        pool = "pool-us-east-2"
        expected = {
            k: v for k, v in replay(examples, moment(MOMENTS[1])).items() if v["poolName"] == pool
        }
        found = cli("status", "--pool", pool, "--at", MOMENTS[1], "-o", "json", store=recorded)
        assert summary(found.json()) == expected
        assert len(expected) >= 3
        errors = cli("status", "--state", "error", "--at", MOMENTS[1], "-o", "json", store=recorded)
        assert summary(errors.json()) == {
            k: v for k, v in replay(examples, moment(MOMENTS[1])).items() if v["state"] == "Error"
        }

    def test_a_table_says_which_moment_it_shows_and_before_any_report_nothing_matches(
        self, recorded: str, cli: Cli
    ) -> None:
        shown = cli("status", "--at", MOMENTS[0], store=recorded)
        assert "as of 2026-11-18T12:00:00Z" in shown.err
        assert "event-router" in shown.out
        assert "checkout-api" in shown.out
        assert "postgres-operator" not in shown.out  # its first report came at 16:38
        empty = cli("status", "--at", "2026-11-01T00:00:00Z", store=recorded)
        assert empty.out == ""
        assert "no workloads match" in empty.err

    def test_a_duration_means_that_long_ago(self, recorded: str, cli: Cli) -> None:
        now = cli("status", "-o", "json", store=recorded).json()
        assert cli("status", "--at", "1m", "-o", "json", store=recorded).json() == now
        ago = (datetime.now(UTC) - datetime(2026, 11, 1, tzinfo=UTC)) // timedelta(days=1)
        assert cli("status", "--at", f"{ago + 1}d", "-o", "json", store=recorded).json() == []

    @sqlite_only()
    @pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "99999999999d", ""])
    def test_a_bad_moment_is_one_line_and_exit_2(self, recorded: str, cli: Cli, bad: str) -> None:
        result = cli("status", "--at", bad, store=recorded, expect=2)
        assert result.err.count("\n") == 1
        assert "--at" in result.err


class TestShowAt:
    def test_one_workload_as_it_was_then_and_not_found_before_its_first_report(
        self, recorded: str, cli: Cli, checkout: list[dict[str, Any]]
    ) -> None:
        third = moment(checkout[2]["reportedAt"])
        shown = cli(
            "show",
            EXAMPLE_TENANT,
            EXAMPLE_RT_ID,
            "--at",
            third.isoformat(),
            "-o",
            "json",
            store=recorded,
        ).json()
        assert shown["attempts"] == 3
        assert shown["state"] == ("Deployed" if checkout[2]["success"] else "Error")
        assert shown["statusMessage"] == checkout[2]["statusMessage"]
        before = moment(checkout[0]["reportedAt"]) - timedelta(seconds=1)
        missing = cli(
            "show",
            EXAMPLE_TENANT,
            EXAMPLE_RT_ID,
            "--at",
            before.isoformat(),
            store=recorded,
            expect=1,
        )
        assert "no reports recorded" in missing.err
        assert "by 2026-11-18" in missing.err


MOMENT_TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**15), st.sampled_from("smhdw")),
    st.builds(
        lambda d, zone: d.isoformat() + zone,
        st.datetimes(),
        st.sampled_from(["", "Z", "+14:00", "-12:00", "+23:59"]),
    ),
)


# Parsing `--at` happens before the store is opened: the hypothesis test runs on SQLite. On
# PostgreSQL, the moments that reach the store's as-of query (its timestamp range, extreme
# offsets, long durations) and a few that are refused, each once.
AT_ON_POSTGRES = [
    "0001-01-01T00:00:00+14:00",  # before datetime.min in UTC
    "9999-12-31T23:59:59-12:00",  # after datetime.max in UTC
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59+23:59",
    "2026-11-19T12:00:00Z",
    "0s",
    "99999999999999d",
    "2026-11-19T12:00:00\x00",
]


def answers_or_exits_2_in_one_line(store: str, text: str) -> None:
    """Every `--at` value either answers (exit 0) or is refused in one line (exit 2); never a
    traceback."""
    for argv in (["status", "--at", text], ["show", "acme", "rt-1", "--at", text]):
        code, out, err = run(["--store", store, *argv], b"")
        assert "Traceback" not in err
        if code == 2:
            assert out == ""
            assert len(err.strip().splitlines()) == 1, err
        elif code == 1:  # only: the workload had no report by then
            assert argv[0] == "show", (text, err)
            assert "no reports recorded for acme/rt-1 by" in err, (text, err)
        else:
            assert code == 0, (text, code, err)


@pytest.mark.slow
@sqlite_only("ready_store")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=MOMENT_TEXT)
@example(text="0001-01-01T00:00:00+14:00")  # before datetime.min in UTC
@example(text="9999-12-31T23:59:59-12:00")  # after datetime.max in UTC
@example(text="99999999999999d")
@example(text="2026-11-19T12:00:00\x00")
def test_any_at_text_answers_or_exits_2_with_one_line_and_no_traceback(
    ready_store: str, text: str
) -> None:
    """In-process, on a store with a few workloads."""
    answers_or_exits_2_in_one_line(ready_store, text)


@pytest.mark.parametrize(
    "ready_store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("text", AT_ON_POSTGRES)
def test_extreme_at_moments_answer_or_exit_2_on_postgres(ready_store: str, text: str) -> None:
    answers_or_exits_2_in_one_line(ready_store, text)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def ready_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('asof') / 'ledger.db'}"
        admin = None
    else:
        admin = request.getfixturevalue("postgres_admin_dsn")
        url = create_database(admin, prefix="dl_asof")
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many([report(f"rt-{n}", tenant="acme") for n in range(3)])
    yield url
    if admin is not None:
        drop_database(admin, url)
