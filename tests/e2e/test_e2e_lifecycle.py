"""The deployment lifecycle through the installed CLI, on SQLite and PostgreSQL: deploy
requests, progress, outcomes and undeploys recorded in one mixed input, then `history` (the
timeline and `--attempts`), `show`, `status --state pending` and `overdue`.

The story (times are the senders' `reportedAt`, relative to when the test runs):
- acme-prod/checkout-api: requested 1.4.2 3h ago, two progress messages, a failure in the
  operator's format 5 minutes after the request; requested 1.4.3 2h ago, deployed 90 s
  later; requested 1.4.4 1h ago, and no outcome since: overdue.
- acme-prod/billing-worker: requested 5 minutes ago: pending, not yet overdue.
- acme-prod/ingress-nginx: deployed 2h ago, undeployed 30 minutes ago.
- globex/storefront (another tenant and pool): requested 20 minutes ago, one progress
  message: overdue.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lifecycle_keys
import pytest
from support import Cli, is_sqlite, sqlite_path

ACME, GLOBEX = "acme-prod", "globex"
CHECKOUT = "64f1c0ffee0000000000beef"
BILLING = "64f1c3a97d2e4b0019c0a1f2"
INGRESS = "64f1c3a97d2e4b0019c0a1f3"
STOREFRONT = "6650aa0b1c2d3e4f5a6b7c8d"
EU_POOL, EU_POOL_RT = "pool-eu-west-1", "6601de0000000000000000e1"
US_POOL_RT = "6601de0000000000000000a5"
HELM_ERROR = "Error: UPGRADE FAILED: timed out waiting for the condition"
FAILURE = f"helm upgrade --install my-release failed with exit code 1. stderr: {HELM_ERROR}"
# The shared headline: the stderr's error line, the operation and exit code beside it, cut
# at the table's width of 100.
SHOWN_ERROR = HELM_ERROR + " (helm upgrade --install my-release, exit…"
WAITING = "Pod checkout-api-7d9f container 'api' waiting: ImagePullBackOff"
STUCK = "Pod storefront-5c8 container 'web' waiting: CrashLoopBackOff"
# Secrets of the deploy requests: none may ever be printed.
CANARIES = ("canary-repo-password-71", "canary-repo-user-72", "canary-secret-73", "canary-yaml-74")


def _at(now: datetime, **ago: float) -> str:
    return (now - timedelta(**ago)).isoformat()


def _request(
    now: datetime,
    tenant: str,
    rt_id: str,
    name: str,
    version: str,
    minutes: float,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "kind": "request",
        "tenantId": tenant,
        "workloadRtId": rt_id,
        "workloadName": name,
        "poolRtId": fields.pop("pool_rt_id", EU_POOL_RT),
        "workloadType": "Application",
        "repositoryUrl": f"https://{CANARIES[1]}:{CANARIES[0]}@charts.example.com/stable",
        "repositoryUsername": CANARIES[1],
        "repositoryPassword": CANARIES[0],
        "chartName": name,
        "chartVersion": version,
        "valuesYaml": f"replicas: 3\npassword: {CANARIES[3]}\n",
        "values": [
            {"path": "image.tag", "value": version, "isSecret": False},
            {"path": "db.password", "value": CANARIES[2], "isSecret": True},
        ],
        "messageId": f"{rt_id}-request-{version}",
        "reportedAt": _at(now, minutes=minutes),
        **fields,
    }


def _message(tenant: str, rt_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"tenantId": tenant, "workloadRtId": rt_id, "workloadName": name, **fields}


def lifecycle(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The story as three inputs: JSON Lines, a JSON array, and one JSON object."""
    checkout = [
        _request(now, ACME, CHECKOUT, "checkout-api", "1.4.2", 180),
        _message(
            ACME,
            CHECKOUT,
            "checkout-api",
            kind="progress",
            message="Pod checkout-api-7d9f container 'api' waiting: ContainerCreating",
            reportedAt=_at(now, minutes=179),
        ),
        _message(
            ACME,
            CHECKOUT,
            "checkout-api",
            kind="Progress",
            message=WAITING,
            messageId="checkout-progress-2",
            reportedAt=_at(now, minutes=178),
        ),
        # The outcome as upstream sends it: no kind, but success.
        _message(
            ACME,
            CHECKOUT,
            "checkout-api",
            poolName=EU_POOL,
            success=False,
            statusMessage=FAILURE,
            messageId="checkout-outcome-1",
            reportedAt=_at(now, minutes=175),
        ),
        _request(now, ACME, CHECKOUT, "checkout-api", "1.4.3", 120),
        _message(
            ACME,
            CHECKOUT,
            "checkout-api",
            kind="outcome",
            poolName=EU_POOL,
            success=True,
            statusMessage=None,
            messageId="checkout-outcome-2",
            reportedAt=_at(now, minutes=118.5),
        ),
        _message(
            ACME,
            INGRESS,
            "ingress-nginx",
            success=True,
            poolName=EU_POOL,
            reportedAt=_at(now, minutes=120),
        ),
        _request(now, ACME, CHECKOUT, "checkout-api", "1.4.4", 60),
        _request(now, ACME, BILLING, "billing-worker", "2.0.0", 5),
    ]
    globex = [
        _request(now, GLOBEX, STOREFRONT, "storefront", "", 20, pool_rt_id=US_POOL_RT),
        _message(
            GLOBEX,
            STOREFRONT,
            "storefront",
            kind="progress",
            message=STUCK + "\nBack-off restarting failed container",
            reportedAt=_at(now, minutes=19),
        ),
    ]
    undeploy = _message(
        ACME,
        INGRESS,
        "ingress-nginx",
        kind="undeploy",
        poolRtId=EU_POOL_RT,
        workloadType=0,
        messageId="ingress-undeploy",
        reportedAt=_at(now, minutes=30),
    )
    return checkout, globex, undeploy


RECEIPTS = [
    f"recorded {ACME}/{CHECKOUT} request Pending",
    f"recorded {ACME}/{CHECKOUT} progress Pending",
    f"recorded {ACME}/{CHECKOUT} progress Pending",
    f"recorded {ACME}/{CHECKOUT} attempt 1 Error",
    f"recorded {ACME}/{CHECKOUT} request Pending",
    f"recorded {ACME}/{CHECKOUT} attempt 2 Deployed",
    f"recorded {ACME}/{INGRESS} attempt 1 Deployed",
    f"recorded {ACME}/{CHECKOUT} request Pending",
    f"recorded {ACME}/{BILLING} request Pending",
    f"recorded {GLOBEX}/{STOREFRONT} request Pending",
    f"recorded {GLOBEX}/{STOREFRONT} progress Pending",
    f"recorded {ACME}/{INGRESS} undeploy Undeployed",
]


def write_inputs(tmp_path: Path, now: datetime) -> list[Path]:
    checkout, globex, undeploy = lifecycle(now)
    lines = tmp_path / "lifecycle.jsonl"
    lines.write_text("".join(json.dumps(m) + "\n" for m in checkout), encoding="utf-8")
    array = tmp_path / "globex.json"
    array.write_text(json.dumps(globex, indent=2), encoding="utf-8")
    single = tmp_path / "undeploy.json"
    single.write_text(json.dumps(undeploy, indent=2), encoding="utf-8")
    return [lines, array, single]


@pytest.fixture
def story(store: str, cli: Cli, tmp_path: Path) -> str:
    """A store holding the story, recorded by one `record` of three inputs."""
    recorded = cli("record", *write_inputs(tmp_path, datetime.now(UTC)), store=store)
    assert recorded.lines() == RECEIPTS
    assert recorded.err == ""
    return store


def no_secret(*outputs: str) -> None:
    for out in outputs:
        for canary in CANARIES:
            assert canary not in out, canary


def test_record_takes_every_kind_in_any_mix_and_its_receipts_say_the_kind(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path, datetime.now(UTC))
    first = cli("record", "-o", "json", *inputs, store=store)
    receipts = first.json()
    assert [set(r) for r in receipts] == [lifecycle_keys.RECEIPT] * len(RECEIPTS)
    assert [(r["kind"], r["attempt"], r["state"], r["duplicate"]) for r in receipts] == [
        ("request", None, "Pending", False),
        ("progress", None, "Pending", False),
        ("progress", None, "Pending", False),
        ("outcome", 1, "Error", False),
        ("request", None, "Pending", False),
        ("outcome", 2, "Deployed", False),
        ("outcome", 1, "Deployed", False),
        ("request", None, "Pending", False),
        ("request", None, "Pending", False),
        ("request", None, "Pending", False),
        ("progress", None, "Pending", False),
        ("undeploy", None, "Undeployed", False),
    ]
    positions = [r["position"] for r in receipts]
    assert positions == sorted(positions)

    # Again: every message with a messageId is a duplicate; the others are new events.
    again = cli("record", "-o", "csv", *inputs, store=store)
    rows = list(csv.DictReader(io.StringIO(again.out, newline="")))
    assert list(rows[0]) == list(receipts[0])
    with_id = [1, 3, 4, 5, 6, 8, 9, 10, 12]
    assert [row["duplicate"] for row in rows] == [
        "true" if n in with_id else "false" for n in range(1, 13)
    ]
    # The outcome of ingress-nginx has no messageId: recorded again, as its attempt 2.
    assert [row["attempt"] for row in rows][:7] == ["", "", "", "1", "", "2", "2"]
    no_secret(first.out, first.err, again.out, again.err)


def test_history_is_the_whole_timeline_and_attempts_the_outcomes_alone(
    story: str, cli: Cli
) -> None:
    key = (ACME, CHECKOUT)
    running = [
        cli.spawn("history", *key, store=story),
        cli.spawn("history", *key, "-o", "json", store=story),
        cli.spawn("history", *key, "--attempts", store=story),
        cli.spawn("history", *key, "--attempts", "--json", store=story),
        cli.spawn("history", *key, "--full", store=story),
        cli.spawn("history", *key, "--limit", "3", "-o", "csv", store=story),
        cli.spawn("history", ACME, INGRESS, store=story),
        cli.spawn("history", *key, "--limit", "2", "--tz", "+02:00", store=story),
    ]
    table = running[0].result().lines()
    assert table[0].split() == [
        "ATTEMPT",
        "OCCURRED",
        "AT",
        "KIND",
        "STATE",
        "CHART",
        "DURATION",
        "HELM",
        "EXIT",
        "CATEGORY",
        "MESSAGE",
    ]
    cells = [re.split(r"\s{2,}", line.strip()) for line in table[1:]]
    assert [c[:1] + c[2:] for c in cells] == [
        ["-", "request", "Pending", "checkout-api 1.4.4", "-", "-", "-", "-", "values changed"],
        ["2", "outcome", "Deployed", "checkout-api 1.4.3", "1m 30s", "-", "-", "-"],
        ["-", "request", "Pending", "checkout-api 1.4.3", "-", "-", "-", "-", "values changed"],
        [
            "1",
            "outcome",
            "Error",
            "checkout-api 1.4.2",
            "5m",
            "upgrade --install my-release",
            "1",
            "wait-timeout",
            SHOWN_ERROR,
        ],
        ["-", "progress", "Pending", "-", "-", "-", "-", "-", WAITING],
        [
            "-",
            "progress",
            "Pending",
            "-",
            "-",
            "-",
            "-",
            "-",
            "Pod checkout-api-7d9f container 'api' waiting: ContainerCreating",
        ],
        ["-", "request", "Pending", "checkout-api 1.4.2", "-", "-", "-", "-", "first request"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c[1]) for c in cells)

    items = running[1].result().json()
    assert [i["kind"] for i in items] == [
        "request",
        "outcome",
        "request",
        "outcome",
        "progress",
        "progress",
        "request",
    ]
    shapes = {
        "request": lifecycle_keys.REQUEST,
        "progress": lifecycle_keys.PROGRESS,
        "outcome": lifecycle_keys.HISTORY,
    }
    assert [set(i) for i in items] == [shapes[i["kind"]] for i in items]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions, reverse=True)
    failed = items[3]
    assert (failed["attempt"], failed["success"], failed["statusMessage"]) == (1, False, FAILURE)
    assert (failed["helmOperation"], failed["exitCode"]) == ("upgrade --install my-release", 1)
    assert (failed["chartVersion"], failed["durationSeconds"]) == ("1.4.2", 300.0)
    assert failed["requestPosition"] == items[6]["position"]
    assert (items[1]["durationSeconds"], items[1]["requestPosition"]) == (
        90.0,
        items[2]["position"],
    )
    first = items[6]
    assert first["secretPaths"] == ["db.password"]
    assert first["overrides"] == [{"path": "image.tag", "value": "1.4.2"}]
    assert first["repositoryUrl"] == "https://charts.example.com/stable"
    assert first["valuesDigest"].startswith("sha256:")
    assert (first["valuesChanged"], items[0]["valuesChanged"]) == (None, True)
    assert items[4]["message"] == WAITING

    attempts_table = running[2].result().lines()
    assert attempts_table[0].split() == [
        "ATTEMPT",
        "OCCURRED",
        "AT",
        "STATE",
        "CHART",
        "DURATION",
        "HELM",
        "EXIT",
        "CATEGORY",
        "MESSAGE",
    ]
    assert [re.split(r"\s{2,}", line.strip())[2:] for line in attempts_table[1:]] == [
        ["Deployed", "checkout-api 1.4.3", "1m 30s", "-", "-", "-"],
        [
            "Error",
            "checkout-api 1.4.2",
            "5m",
            "upgrade --install my-release",
            "1",
            "wait-timeout",
            SHOWN_ERROR,
        ],
    ]
    assert [line.split()[0] for line in attempts_table[1:]] == ["2", "1"]
    attempts = running[3].result().json()
    assert attempts == [i for i in items if i["kind"] == "outcome"]

    full = running[4].result().out
    assert "    " + FAILURE in full
    assert "    values changed\n    repository: https://charts.example.com/stable\n" in full
    assert "    secret paths: db.password" in full

    sheet = list(csv.DictReader(io.StringIO(running[5].result().out, newline="")))
    assert [row["kind"] for row in sheet] == ["request", "outcome", "request"]
    assert json.loads(sheet[0]["secretPaths"]) == ["db.password"]
    assert json.loads(sheet[0]["overrides"]) == [{"path": "image.tag", "value": "1.4.4"}]
    assert (sheet[1]["durationSeconds"], sheet[1]["success"]) == ("90.0", "true")

    ingress = running[6].result().lines()
    assert [re.split(r"\s{2,}", line.strip())[2:4] for line in ingress[1:]] == [
        ["undeploy", "Undeployed"],
        ["outcome", "Deployed"],
    ]
    berlin = running[7].result().lines()
    assert len(berlin) == 3
    assert re.search(r"  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+02:00  request  ", berlin[1]), berlin[1]

    no_secret(*(r.result().out for r in running), full)


def test_show_has_the_charts_the_pending_age_and_the_last_duration(story: str, cli: Cli) -> None:
    running = [
        cli.spawn("show", ACME, CHECKOUT, store=story),
        cli.spawn("show", ACME, CHECKOUT, "--json", store=story),
        cli.spawn("show", ACME, INGRESS, store=story),
        cli.spawn("show", ACME, INGRESS, "-o", "json", store=story),
    ]
    text = running[0].result().out
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines()[1:])
    assert fields["state"] == "Pending"
    assert fields["deployed chart"] == "checkout-api 1.4.3"
    assert fields["pending chart"] == "checkout-api 1.4.4"
    assert re.fullmatch(r"(59m \d+s|1h( \d+m)?) \(requested \S+Z\)", fields["pending age"])
    assert fields["last measured"] == "1m 30s"
    assert fields["attempts"] == "2 (1 failed, 0 in a row)"
    assert fields["message"] == "-"

    state = running[1].result().json()
    assert set(state) == lifecycle_keys.STATE
    assert state["state"] == "Pending"
    assert (state["deployedChartName"], state["deployedChartVersion"]) == ("checkout-api", "1.4.3")
    assert (state["pendingChartName"], state["pendingChartVersion"]) == ("checkout-api", "1.4.4")
    assert state["lastDurationSeconds"] == 90.0
    assert (state["poolRtId"], state["workloadType"]) == (EU_POOL_RT, "Application")
    requested = datetime.fromisoformat(state["requestedAt"])
    assert timedelta(minutes=59) < datetime.now(UTC) - requested < timedelta(minutes=70)
    assert state["undeployedAt"] is None

    gone = running[2].result().out
    assert re.search(r"^\s+state\s+Undeployed$", gone, re.MULTILINE), gone
    assert re.search(r"^\s+undeployed at\s+\S+Z$", gone, re.MULTILINE), gone
    assert re.search(r"^\s+deployed chart\s+-$", gone, re.MULTILINE), gone
    assert re.search(r"^\s+pending age\s+-$", gone, re.MULTILINE), gone
    undeployed = running[3].result().json()
    assert (undeployed["state"], undeployed["workloadType"]) == ("Undeployed", "Adapter")
    assert undeployed["undeployedAt"] is not None
    assert undeployed["requestedAt"] is None
    no_secret(text, gone)


def test_status_shows_how_long_each_pending_deploy_has_waited(story: str, cli: Cli) -> None:
    running = [
        cli.spawn("status", "--state", "pending", store=story),
        cli.spawn("status", "--state", "pending", "--json", store=story),
        cli.spawn("status", "--state", "undeployed", store=story),
    ]
    table = running[0].result().lines()
    assert table[0].split()[-4:] == ["ATTEMPT", "PENDING", "FOR", "REASON"]
    rows = {line.split()[1]: line for line in table[1:]}
    assert set(rows) == {CHECKOUT, BILLING, STOREFRONT}
    column = table[0].index("REASON")
    assert rows[STOREFRONT][column:] == STUCK + " …"  # the headline of its last progress
    assert re.search(r"\s(59m \d+s|1h( \d+m)?)$", rows[CHECKOUT]), rows[CHECKOUT]
    assert re.search(r"\s(19m \d+s|2\dm( \d+s)?)  " + re.escape(STUCK), rows[STOREFRONT])
    assert re.search(r"\s[4-9]m( \d+s)?$", rows[BILLING]), rows[BILLING]

    states = running[1].result().json()
    assert [set(s) for s in states] == [lifecycle_keys.STATE] * 3
    assert {s["pendingChartVersion"] for s in states} == {"1.4.4", "2.0.0", None}
    assert all(s["requestedAt"] for s in states)

    # No workload in the list is pending: no PENDING FOR column.
    undeployed = running[2].result().lines()
    assert "PENDING" not in undeployed[0]
    assert [line.split()[1] for line in undeployed[1:]] == [INGRESS]


def overdue_rows(lines: list[str]) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def test_overdue_lists_the_deploys_that_never_reported_back(story: str, cli: Cli) -> None:
    running = [
        cli.spawn("overdue", store=story),
        cli.spawn("overdue", "--json", store=story),
        cli.spawn("overdue", "-o", "jsonl", store=story),
        cli.spawn("overdue", "-o", "csv", store=story),
        cli.spawn("overdue", "--older-than", "30m", store=story),
        cli.spawn("overdue", "--older-than", "1m", "--json", store=story),
        cli.spawn("overdue", "--older-than", "1h30m", store=story),
        cli.spawn("overdue", "--older-than", "2h", "--json", store=story),
        cli.spawn("overdue", "--tenant", GLOBEX, "--json", store=story),
        cli.spawn("overdue", "--pool", US_POOL_RT, "--json", store=story),
        cli.spawn("overdue", "--pool", EU_POOL, "--json", store=story),
        cli.spawn("overdue", "--tenant", GLOBEX, "--pool", EU_POOL_RT, store=story),
    ]
    table = running[0].result().lines()
    assert table[0].split() == [
        "TENANT",
        "WORKLOAD",
        "RT",
        "ID",
        "WORKLOAD",
        "POOL",
        "CHART",
        "REQUESTED",
        "AT",
        "AGE",
        "PROGRESS",
    ]
    rows = overdue_rows(table)
    assert [r[:5] for r in rows] == [
        [ACME, CHECKOUT, "checkout-api", EU_POOL, "checkout-api 1.4.4"],
        [GLOBEX, STOREFRONT, "storefront", US_POOL_RT, "storefront (newest)"],
    ]
    assert re.fullmatch(r"59m \d+s|1h( \d+m)?", rows[0][6]), rows[0]
    assert len(rows[0]) == 7  # no progress since the request
    assert re.fullmatch(r"19m \d+s|2\dm( \d+s)?", rows[1][6]), rows[1]
    assert rows[1][7] == STUCK + " …"

    found = running[1].result().json()
    assert [list(o) for o in found] == [lifecycle_keys.OVERDUE] * 2
    assert [(o["tenantId"], o["workloadRtId"]) for o in found] == [
        (ACME, CHECKOUT),
        (GLOBEX, STOREFRONT),
    ]
    assert [o["chartVersion"] for o in found] == ["1.4.4", None]
    assert found[1]["progressMessage"] == STUCK + "\nBack-off restarting failed container"
    assert found[0]["progressMessage"] is None
    assert 3540 < found[0]["ageSeconds"] < 4200
    assert 1140 < found[1]["ageSeconds"] < 1800
    requested = datetime.fromisoformat(found[0]["requestedAt"])
    assert timedelta(minutes=59) < datetime.now(UTC) - requested < timedelta(minutes=70)
    assert [o["workloadRtId"] for o in running[2].result().json_lines()] == [CHECKOUT, STOREFRONT]
    sheet = list(csv.DictReader(io.StringIO(running[3].result().out, newline="")))
    assert list(sheet[0]) == [*lifecycle_keys.OVERDUE, "progressMessageEscaped"]
    assert [row["poolRtId"] for row in sheet] == [EU_POOL_RT, US_POOL_RT]

    assert [r[1] for r in overdue_rows(running[4].result().lines())] == [CHECKOUT]
    recent = running[5].result().json()
    assert [o["workloadRtId"] for o in recent] == [CHECKOUT, STOREFRONT, BILLING]
    none = running[6].result()
    assert (none.out, none.err) == ("", "no deploy has waited for its outcome longer than 1h 30m\n")
    empty = running[7].result()
    assert (empty.out, empty.err) == ("[]\n", "")
    assert [o["workloadRtId"] for o in running[8].result().json()] == [STOREFRONT]
    assert [o["workloadRtId"] for o in running[9].result().json()] == [STOREFRONT]
    assert [o["workloadRtId"] for o in running[10].result().json()] == [CHECKOUT]
    assert running[11].result().err.startswith("no deploy has waited")


@pytest.mark.parametrize("value", ["2x", "1.5h", "-5m", "soon", ""])
def test_a_bad_older_than_is_one_line_and_exit_2(cli: Cli, tmp_path: Path, value: str) -> None:
    result = cli("overdue", "--older-than", value, cwd=tmp_path, expect=2)
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith("deployledger: Invalid value for '--older-than': ")
    assert f"{value!r} is not a duration" in line
    assert "1h30m" in line
    assert list(tmp_path.iterdir()) == []  # no store was opened


def test_a_message_without_kind_or_success_is_refused_naming_kind(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    checkout, _, _ = lifecycle(datetime.now(UTC))
    no_kind = {k: v for k, v in checkout[1].items() if k != "kind"}
    wrong = {**checkout[0], "kind": "deploy"}
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(json.dumps(m) for m in [checkout[0], no_kind, wrong]) + "\n", encoding="utf-8"
    )
    result = cli("record", path, store=store, expect=2)
    assert result.out == ""
    assert result.err.splitlines() == [
        'report 2 (line 2): kind: is required: add "kind": "request", "progress", "outcome" '
        'or "undeploy" (a message with "success" is an outcome)',
        'report 3 (line 3): kind: must be "request", "progress", "outcome" or "undeploy", '
        "got 'deploy'",
        "nothing recorded: 2 problems in input",
    ]
    missing = cli("show", ACME, CHECKOUT, store=store, expect=None)
    if is_sqlite(store) and not sqlite_path(store).exists():
        assert missing.code == 2  # no store at all: SchemaMissing
        assert len(missing.err.strip().splitlines()) == 1
    else:
        assert missing.code == 1
        assert "no reports recorded" in missing.err
    no_secret(result.out, result.err)


def test_an_oversized_progress_message_is_cut_and_said_or_refused(
    store: str, cli: Cli, tmp_path: Path
) -> None:
    progress = _message(ACME, CHECKOUT, "checkout-api", kind="progress", message="é" * 300)
    path = tmp_path / "progress.json"
    path.write_text(json.dumps(progress), encoding="utf-8")

    refused = cli(
        "record", "--max-message-bytes", "200", "--reject-oversized", path, store=store, expect=2
    )
    assert refused.err == (
        "report 1 (line 1): message: is 600 bytes of UTF-8, over the limit of 200 bytes; "
        "nothing recorded\n"
    )
    cut = cli("record", "--max-message-bytes", "200", path, store=store)
    assert cut.lines() == [f"recorded {ACME}/{CHECKOUT} progress Pending (message cut: 600 bytes)"]
    (item,) = cli("history", ACME, CHECKOUT, "--json", store=store).json()
    assert item["messageTruncated"] is True
    assert item["message"].startswith("é")
    assert len(item["message"].encode("utf-8")) <= 200
    as_json = cli("record", "--max-message-bytes", "200", "-o", "json", path, store=store)
    assert [r["messageTruncated"] for r in as_json.json()] == [True]
