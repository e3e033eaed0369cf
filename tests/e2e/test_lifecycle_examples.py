"""examples/lifecycle.jsonl through the installed CLI, on both backends: what it records
(kinds, states, attempt numbers, duplicates on a resend), what the workloads end up as
(Deployed with the chart of the request that succeeded, Error, Pending, Undeployed), the
timeline with durations and the helm operation and exit code of a failure, the overdue
list, and that none of the examples' (fake) secrets is ever printed. And `make run`, twice.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import REPO, Cli, Result, cli_env

LIFECYCLE = REPO / "examples" / "lifecycle.jsonl"
TENANT = "acme-prod"
CHECKOUT = "64f1c0ffee0000000000beef"  # fails (helm upgrade), then succeeds after 2 progress
BILLING = "64f1c3a97d2e4b0019c0a1f2"  # requested, never answered: overdue
ROUTER = ("globex", "651c7f0e9a3b2c0021d4e6a7")  # requested, deployed, undeployed
GRAFANA = ("initech", "65f40d2c8e1a9b0033a7c2d9")  # helm repo add fails
POOL_RT_ID = "6512a0c4e1b2f3004a5d6e71"


@pytest.fixture(scope="module")
def sent() -> list[dict[str, Any]]:
    lines = LIFECYCLE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def of(sent: list[dict[str, Any]], tenant: str, rt_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        m for m in sent if (m["tenantId"], m["workloadRtId"], m["kind"]) == (tenant, rt_id, kind)
    ]


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text
    return value


def seconds(request: dict[str, Any], outcome: dict[str, Any]) -> float:
    return (at(outcome["reportedAt"]) - at(request["reportedAt"])).total_seconds()


def secrets_of(sent: list[dict[str, Any]]) -> set[str]:
    """Every secret the examples carry (fake ones, but never to be printed): the repository
    credentials, the values marked secret, and every line of `valuesYaml`."""
    found: set[str] = set()
    for message in sent:
        if message["kind"] != "request":
            continue
        for name in ("repositoryUsername", "repositoryPassword"):
            if message.get(name):
                found.add(message[name])
        found.update(v["value"] for v in message.get("values") or [] if v["isSecret"])
        for line in (message.get("valuesYaml") or "").splitlines():
            if len(line.strip()) > 8:  # long enough not to be a common word
                found.add(line.strip())
    return found


class TestTheExamples:
    def test_the_file_is_a_realistic_lifecycle(self, sent: list[dict[str, Any]]) -> None:
        """What the examples promise: `kind` and `messageId` on every message, requests with
        realistic fields and a secret override, and obviously fake secrets."""
        assert all(m.get("kind") in ("request", "progress", "outcome", "undeploy") for m in sent)
        ids = [m["messageId"] for m in sent]
        assert len(set(ids)) == len(ids)
        requests = [m for m in sent if m["kind"] == "request"]
        for request in requests:
            assert request["chartName"]
            assert "chartVersion" in request
            assert request["repositoryUrl"].startswith("https://")
            assert "@" not in request["repositoryUrl"]
            assert any(v["isSecret"] for v in request["values"]) or request["isReconciliation"]
        assert any(r["valuesYaml"] for r in requests)
        # The credentials and secret values are obviously fake.
        for request in requests:
            fake = [request.get("repositoryUsername"), request.get("repositoryPassword")]
            fake += [v["value"] for v in request["values"] if v["isSecret"]]
            for value in filter(None, fake):
                assert re.fullmatch(r"example-[a-z]+(-[a-z]+)*", value), value

    def test_record_then_resend_on_both_backends(
        self, store: str, cli: Cli, sent: list[dict[str, Any]]
    ) -> None:
        first = cli("record", "-o", "jsonl", LIFECYCLE, store=store).json_lines()
        assert [r["kind"] for r in first] == [m["kind"] for m in sent]
        assert not any(r["duplicate"] for r in first)
        positions = [r["position"] for r in first]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)
        expected_states = []
        for message in sent:
            if message["kind"] == "outcome":
                expected_states.append("Deployed" if message["success"] else "Error")
            else:
                expected_states.append(
                    {"request": "Pending", "progress": "Pending", "undeploy": "Undeployed"}[
                        message["kind"]
                    ]
                )
        assert [r["state"] for r in first] == expected_states
        attempts = [(r["workloadRtId"], r["attempt"]) for r in first if r["kind"] == "outcome"]
        assert attempts == [(CHECKOUT, 1), (CHECKOUT, 2), (GRAFANA[1], 1), (ROUTER[1], 1)]
        assert all(r["attempt"] is None for r in first if r["kind"] != "outcome")

        # The same file again: every message is a duplicate, at its first position, exit 0.
        again = cli("record", "-o", "jsonl", LIFECYCLE, store=store).json_lines()
        assert all(r["duplicate"] for r in again)
        assert [r["position"] for r in again] == positions
        text = cli("record", LIFECYCLE, store=store)
        assert text.code == 0
        assert all(line.startswith("duplicate ") for line in text.lines()), text.out


@pytest.fixture
def lifecycle(store: str, cli: Cli) -> str:
    """A store holding examples/lifecycle.jsonl."""
    cli("record", LIFECYCLE, store=store)
    return store


def test_states_timeline_durations_helm_failures_overdue_and_undeploy(
    lifecycle: str, cli: Cli, sent: list[dict[str, Any]]
) -> None:
    commands = {
        "show checkout": ["show", "-o", "json", TENANT, CHECKOUT],
        "show billing": ["show", "-o", "json", TENANT, BILLING],
        "show router": ["show", "-o", "json", *ROUTER],
        "show grafana": ["show", "-o", "json", *GRAFANA],
        "show checkout table": ["show", TENANT, CHECKOUT],
        "history checkout": ["history", "-o", "json", TENANT, CHECKOUT],
        "history checkout table": ["history", TENANT, CHECKOUT],
        "history checkout attempts": ["history", "--attempts", "-o", "json", TENANT, CHECKOUT],
        "history grafana": ["history", "-o", "json", *GRAFANA],
        "history router": ["history", "-o", "json", *ROUTER],
        "overdue": ["overdue", "-o", "json"],
        "overdue table": ["overdue"],
        "overdue --json": ["overdue", "--json"],
        "overdue tenant": ["overdue", "-o", "jsonl", "--tenant", TENANT],
        "overdue other tenant": ["overdue", "-o", "jsonl", "--tenant", "globex"],
        "overdue pool": ["overdue", "-o", "jsonl", "--pool", POOL_RT_ID],
        "pending": ["status", "-o", "jsonl", "--state", "pending"],
        "undeployed": ["status", "-o", "jsonl", "--state", "undeployed"],
        "status table": ["status"],
        "audit": ["audit", "-o", "jsonl"],
    }
    running = {name: cli.spawn(*args, store=lifecycle) for name, args in commands.items()}
    out: dict[str, Result] = {name: proc.result() for name, proc in running.items()}

    checkout_requests = of(sent, TENANT, CHECKOUT, "request")
    checkout_outcomes = of(sent, TENANT, CHECKOUT, "outcome")
    checkout_progress = of(sent, TENANT, CHECKOUT, "progress")
    assert len(checkout_requests) == 2
    assert len(checkout_progress) == 2
    failed, succeeded = checkout_outcomes

    # checkout-api: 4.3.0 failed, 4.3.1 deployed after two progress messages.
    state = out["show checkout"].json()
    assert state["state"] == "Deployed"
    assert (state["attempts"], state["failures"], state["consecutiveFailures"]) == (2, 1, 0)
    assert state["deployedChartName"] == "checkout-api"
    assert state["deployedChartVersion"] == checkout_requests[1]["chartVersion"] == "4.3.1"
    assert state["pendingChartVersion"] is None
    assert state["requestedAt"] is None
    assert state["lastDurationSeconds"] == pytest.approx(seconds(checkout_requests[1], succeeded))
    assert state["workloadType"] == "Application"
    assert state["poolRtId"] == POOL_RT_ID
    assert state["poolName"] == "pool-eu-west-1"
    assert "4.3.1" in out["show checkout table"].out

    timeline = out["history checkout"].json()
    assert [e["kind"] for e in timeline] == [
        "outcome",
        "progress",
        "progress",
        "request",
        "outcome",
        "request",
    ]
    new_outcome, progress_2, progress_1, retry, old_outcome, first = timeline
    assert [progress_1["message"], progress_2["message"]] == [
        m["message"] for m in checkout_progress
    ]
    assert "waiting: ContainerCreating" in progress_1["message"]
    assert (first["chartVersion"], retry["chartVersion"]) == ("4.3.0", "4.3.1")
    assert (first["valuesChanged"], retry["valuesChanged"]) == (None, True)
    for request in (first, retry):
        assert request["secretPaths"] == ["database.password"]
        assert request["repositoryUrl"] == "https://charts.acme.example/stable"
        assert request["valuesDigest"].startswith("sha256:")
    assert retry["overrides"] == [
        {"path": "image.tag", "value": "4.3.1"},
        {"path": "replicaCount", "value": "3"},
    ]
    assert old_outcome["attempt"] == 1
    assert old_outcome["state"] == "Error"
    assert old_outcome["statusMessage"] == failed["statusMessage"]  # byte for byte
    assert old_outcome["helmOperation"] == "upgrade --install checkout-api"
    assert old_outcome["exitCode"] == 1
    assert old_outcome["chartVersion"] == "4.3.0"
    assert old_outcome["requestPosition"] == first["position"]
    assert old_outcome["durationSeconds"] == pytest.approx(seconds(checkout_requests[0], failed))
    assert new_outcome["attempt"] == 2
    assert new_outcome["state"] == "Deployed"
    assert new_outcome["helmOperation"] is None
    assert new_outcome["exitCode"] is None
    assert new_outcome["chartVersion"] == "4.3.1"
    assert new_outcome["requestPosition"] == retry["position"]
    assert new_outcome["durationSeconds"] == pytest.approx(seconds(checkout_requests[1], succeeded))
    assert new_outcome["durationSeconds"] == pytest.approx(162.418)
    table = out["history checkout table"].out
    for text in ("4.3.0", "4.3.1", "ContainerCreating", "upgrade --install checkout-api"):
        assert text in table, table

    attempts = out["history checkout attempts"].json()
    assert [(a["attempt"], a["state"]) for a in attempts] == [(2, "Deployed"), (1, "Error")]
    assert [a["durationSeconds"] for a in attempts] == [
        new_outcome["durationSeconds"],
        old_outcome["durationSeconds"],
    ]

    # grafana: helm repo add failed, exit code 1.
    grafana = out["history grafana"].json()
    assert [e["kind"] for e in grafana] == ["outcome", "request"]
    assert grafana[0]["helmOperation"] == "repo add grafana"
    assert grafana[0]["exitCode"] == 1
    assert out["show grafana"].json()["state"] == "Error"

    # billing-worker: requested, one progress message, no outcome: Pending and overdue.
    (billing_request,) = of(sent, TENANT, BILLING, "request")
    (billing_progress,) = of(sent, TENANT, BILLING, "progress")
    billing = out["show billing"].json()
    assert billing["state"] == "Pending"
    assert billing["attempts"] == 0
    assert billing["pendingChartVersion"] == "2.14.0"
    assert at(billing["requestedAt"]) == at(billing_request["reportedAt"])
    assert billing["statusMessage"] == billing_progress["message"]
    overdue = out["overdue"].json()
    assert [(o["tenantId"], o["workloadRtId"]) for o in overdue] == [(TENANT, BILLING)]
    (late,) = overdue
    assert late["workloadName"] == "billing-worker"
    assert (late["chartName"], late["chartVersion"]) == ("billing-worker", "2.14.0")
    assert at(late["requestedAt"]) == at(billing_request["reportedAt"])
    assert late["progressMessage"] == billing_progress["message"]
    assert late["poolRtId"] == POOL_RT_ID
    age = (datetime.now(UTC) - at(billing_request["reportedAt"])).total_seconds()
    assert late["ageSeconds"] == pytest.approx(age, abs=300)

    def without_age(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "ageSeconds"} for item in items]

    assert without_age(out["overdue --json"].json()) == without_age(overdue)
    assert BILLING in out["overdue table"].out
    assert "billing-worker" in out["overdue table"].out
    assert [o["workloadRtId"] for o in out["overdue tenant"].json_lines()] == [BILLING]
    assert out["overdue other tenant"].json_lines() == []
    assert [o["workloadRtId"] for o in out["overdue pool"].json_lines()] == [BILLING]
    assert [s["workloadRtId"] for s in out["pending"].json_lines()] == [BILLING]

    # event-router: deployed (a reconciliation, newest chart), then undeployed.
    (router_undeploy,) = of(sent, *ROUTER, "undeploy")
    router = out["show router"].json()
    assert router["state"] == "Undeployed"
    assert at(router["undeployedAt"]) == at(router_undeploy["reportedAt"])
    assert router["deployedChartVersion"] is None
    assert router["requestedAt"] is None
    assert router["workloadType"] == "Adapter"
    assert router["attempts"] == 1
    assert [e["kind"] for e in out["history router"].json()] == ["undeploy", "outcome", "request"]
    assert out["history router"].json()[2]["isReconciliation"] is True
    assert [(s["tenantId"], s["workloadRtId"]) for s in out["undeployed"].json_lines()] == [ROUTER]

    # The audit lists the four outcomes; nothing anywhere shows a secret.
    assert len(out["audit"].json_lines()) == 4
    secrets = secrets_of(sent)
    assert "example-password-not-real" in secrets
    for name, result in out.items():
        for secret in secrets:
            assert secret not in result.out + result.err, (name, secret)


# ---------------------------------------------------------------------------------------
# make run


def make_args(store: str) -> list[str]:
    """`make run` on this checkout with the venv of this interpreter (not rebuilt: `-o`)
    and `store`."""
    venv = Path(sys.executable).parent.parent
    return [
        *("make", "--no-print-directory", "-C", str(REPO), "run"),
        *(f"VENV={venv}", f"STORE={store}", "-o", f"{venv}/bin/deployledger"),
    ]


def make_run(store: str) -> subprocess.CompletedProcess[str]:
    """`make run` (`make_args`); PYTHONPATH is inherited, so the console script runs this
    tree's code."""
    return subprocess.run(
        make_args(store), capture_output=True, text=True, env=cli_env(), timeout=300
    )


def make_run_in_process(store: str, cli: Cli) -> list[Result]:
    """The `deployledger` commands of `make run`, as `make -n` lists them, each run in this
    process (from the checkout, as make runs them) and checked to succeed."""
    listed = subprocess.run(
        [*make_args(store), "-n"], capture_output=True, text=True, env=cli_env(), check=True
    )
    commands = [shlex.split(line) for line in listed.stdout.splitlines()]
    commands = [argv for argv in commands if argv and argv[0].endswith("/bin/deployledger")]
    assert commands, listed.stdout
    assert all(argv[1:3] == ["--store", store] for argv in commands), listed.stdout
    return [cli(*argv[1:], cwd=REPO) for argv in commands]


@pytest.mark.slow
@pytest.mark.timeout(420)  # one `make run`, 300 s at most
def test_make_run_works_twice_on_the_same_store(
    store: str, cli: Cli, sent: list[dict[str, Any]]
) -> None:
    # The first time, the commands of `make run` in process (a start-up of a second or more
    # each); the second time, `make run` itself, whose output is checked.
    first = make_run_in_process(store, cli)
    assert "recorded " in first[0].out
    second = make_run(store)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Traceback" not in second.stderr
    receipts = [
        line for line in second.stdout.splitlines() if line.startswith(("recorded ", "duplicate "))
    ]
    examples = REPO / "examples" / "reports.jsonl"
    count = len(examples.read_text(encoding="utf-8").splitlines()) + len(sent)
    assert len(receipts) == count
    assert all(line.startswith("duplicate ") for line in receipts)
    # It ends with the timeline of checkout-api, then the overdue list.
    commands = [line for line in second.stdout.splitlines() if "/bin/deployledger " in line]
    assert commands[-2].endswith(f"history {TENANT} {CHECKOUT}")
    assert commands[-1].endswith("overdue")
    timeline, overdue = second.stdout.split(commands[-2], 1)[1].split(commands[-1], 1)
    assert "4.3.1" in timeline
    assert "ContainerCreating" in timeline
    assert BILLING in overdue
    assert "billing-worker" in overdue
