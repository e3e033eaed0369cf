"""Intake round trip (issue 23): a ledger whose `cdevents` sink posts to a second ledger's
CloudEvents intake; both end with the same successful outcomes and undeploys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from http_support import bearer, in_process, served
from intake_data import flux_event
from support import report, request, undeploy

from deployledger import Attempt, Ledger
from deployledger.presentation.sinks import outgoing

pytestmark = pytest.mark.timeout(120)
RT_IDS = ("64f1c0ffee0000000000bee1", "64f1c0ffee0000000000bee2")


def _deploys(ledger: Ledger, tenant: str, rt_id: str) -> list[tuple[str, str]]:
    """The successful outcomes (with their chart version, the receiver's in its status
    message) and undeploys, oldest first."""
    found: list[tuple[str, str]] = []
    for entry in reversed(ledger.timeline(tenant, rt_id)):
        if isinstance(entry, Attempt):
            if entry.success:
                said = re.search(r"version (\S+)", entry.status_message or "")
                version = entry.chart_version or (said.group(1) if said else "")
                found.append(("deployed", version))
        elif entry.kind == "undeploy":
            found.append(("undeployed", ""))
    return found


@pytest.mark.parametrize("spec", ["0.4.1", "0.5.0"])
def test_a_cdevents_sink_feeds_another_ledger_s_intake(tmp_path: Path, spec: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    second = f"sqlite:///{tmp_path / 'second.db'}"
    with Ledger.open(second, create=True) as receiving_ledger:
        _, token = receiving_ledger.tokens.create(tenants=["t1"], scopes=["write"])
    with served(second, log_dir=str(tmp_path)) as peer, Ledger.open(first, create=True) as ledger:
        ledger.sinks.add(
            "peer",
            kind="cdevents",
            url=peer.url + "/v1/intake/cloudevents",
            secret=token,
            spec=spec,
            from_position=1,
        )
        for rt_id in RT_IDS:
            ledger.record(request(rt_id, version="1.0.0"))
            ledger.record(report(rt_id))
            ledger.record(report(rt_id, success=False, message="Error: UPGRADE FAILED: boom"))
            ledger.record(request(rt_id, version="1.1.0"))
            ledger.record(report(rt_id))
        ledger.record(undeploy(RT_IDS[0]))
        ledger.catch_up()
        ledger.sinks.deliver(outgoing)
        status = ledger.sinks.get("peer")
        assert (status.dead_letters, status.lag_events) == (0, 0), status.last_error
        with Ledger.open(second) as receiving_ledger:
            receiving_ledger.catch_up()
            for rt_id in RT_IDS:
                sent = _deploys(ledger, "t1", rt_id)
                assert sent, rt_id
                assert _deploys(receiving_ledger, "t1", rt_id) == sent


def _kinds(ledger: Ledger, tenant: str, rt_id: str) -> list[str]:
    """The successful outcomes and undeploys of a workload, oldest first."""
    found = []
    for entry in reversed(ledger.timeline(tenant, rt_id)):
        if isinstance(entry, Attempt):
            if entry.success:
                found.append("deployed")
        elif entry.kind == "undeploy":
            found.append("undeployed")
    return found


FLUX_LIFE = [  # (release, reason, revision, minute)
    ("podinfo", "InstallSucceeded", "6.5.0", 0),
    ("redis", "InstallSucceeded", "18.1.0", 1),
    ("podinfo", "UpgradeFailed", "6.5.1", 5),
    ("podinfo", "Progressing", "6.5.2", 9),
    ("podinfo", "UpgradeSucceeded", "6.5.2", 10),
    ("redis", "TestSucceeded", "18.1.0", 11),
    ("redis", "UpgradeSucceeded", "18.2.0", 12),
    ("podinfo", "UninstallSucceeded", "6.5.2", 20),
]


def test_flux_events_reach_a_second_ledger_through_a_cdevents_sink(
    migrated_url: str, tmp_path: Path
) -> None:
    """Flux intake -> this ledger (both backends) -> `cdevents` sink -> the CloudEvents
    intake of a second ledger: both hold the same successful outcomes and undeploys."""
    second = f"sqlite:///{tmp_path / 'second.db'}"
    with Ledger.open(second, create=True) as receiving_ledger:
        _, token = receiving_ledger.tokens.create(tenants=["acme"], scopes=["write"])
    with (
        served(second, log_dir=str(tmp_path)) as peer,
        in_process(migrated_url) as (client, tokens),
        Ledger.open(migrated_url) as ledger,
    ):
        ledger.sinks.add(
            "peer", kind="cdevents", url=peer.url + "/v1/intake/cloudevents", secret=token
        )
        for release, reason, revision, minute in FLUX_LIFE:
            event = flux_event(
                reason,
                name=release,
                uid=f"uid-{release}",
                revision=revision,
                timestamp=f"2026-12-07T10:{minute:02d}:00Z",
            )
            answer = client.post(
                "/v1/intake/flux?cluster=prod-eu", json=event, headers=bearer(tokens.acme)
            )
            assert answer.status_code in (201, 202), answer.text
        ledger.catch_up()
        ledger.sinks.deliver(outgoing)
        status = ledger.sinks.get("peer")
        assert (status.dead_letters, status.lag_events) == (0, 0), status.last_error
        rt_ids = {a.workload_rt_id for a in ledger.audit(tenant_id="acme", limit=100).items}
        assert len(rt_ids) == 2
        with Ledger.open(second) as receiving_ledger:
            receiving_ledger.catch_up()
            for rt_id in rt_ids:
                sent = _kinds(ledger, "acme", rt_id)
                assert sent in (["deployed", "deployed", "undeployed"], ["deployed", "deployed"])
                assert _kinds(receiving_ledger, "acme", rt_id) == sent
