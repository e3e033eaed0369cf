"""The secret-canary proof: a deploy request's secrets are never stored, shown or logged.

A unique canary string goes into every secret-bearing field of deploy requests
(`repositoryPassword`, `repositoryUsername`, the userinfo of `repositoryUrl`, every value
marked `isSecret`, `valuesYaml`). They are recorded through the library and through the
CLI (a resend, an idempotency conflict and invalid requests included), the read
model is caught up and rebuilt, and every query and every CLI read command runs in every
output format, with logging at DEBUG captured. Then the canary is searched for in the
SQLite file bytes (and its -wal/-shm), a `pg_dump` of the PostgreSQL database, every CLI
output, the logs, and `repr()`/`str()` of the models and answers: it must be nowhere.

The non-secret parts of the same requests (the secret *paths*, a non-secret override's
value, the repository host) must be found in the same places, so that a search that
cannot see the data does not pass for a proof.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import Runner, is_sqlite, sqlite_path

from deployledger import (
    IdempotencyConflict,
    InvalidReport,
    Ledger,
    WorkloadDeployed,
    parse_message,
)

pytestmark = pytest.mark.slow

TENANT = "canary-tenant"
A, B, C = "rt-canary-a", "rt-canary-b", "rt-canary-c"  # deployed twice / left open / undeployed
SECRET_PATHS = ["database.password", "api.token"]
FORMATS = ["table", "json", "jsonl", "csv"]


@dataclass
class Canary:
    """The secret every secret-bearing field carries, and a non-secret value beside it."""

    secret: str = field(default_factory=lambda: f"cnry{uuid.uuid4().hex}")
    visible: str = field(default_factory=lambda: f"visible{uuid.uuid4().hex}")

    @property
    def forms(self) -> list[bytes]:
        """The canary as it could appear in bytes: UTF-8, UTF-16 (either order), hex."""
        return [
            self.secret.encode(),
            self.secret.encode("utf-16-le"),
            self.secret.encode("utf-16-be"),
            self.secret.encode().hex().encode(),
        ]

    def request(
        self, rt_id: str, message_id: str, *, version: str = "1.0.0", **extra: Any
    ) -> dict[str, Any]:
        """A deploy request with the canary in every secret-bearing field (the secret
        override values differ by `version`, so that two requests differ in values)."""
        body: dict[str, Any] = {
            "kind": "request",
            "tenantId": TENANT,
            "poolRtId": "pool-rt-1",
            "workloadName": f"app-{rt_id}",
            "workloadRtId": rt_id,
            "workloadType": 1,
            "repositoryUrl": f"https://{self.secret}-u:{self.secret}-p@charts.canary.example/x",
            "repositoryUsername": f"{self.secret}-username",
            "repositoryPassword": f"{self.secret}-password",
            "chartName": f"chart-{rt_id}",
            "chartVersion": version,
            "isReconciliation": False,
            "valuesYaml": f"db:\n  password: {self.secret}-yaml\nreplicas: 2\n",
            "values": [
                {"path": "image.tag", "value": self.visible, "isSecret": False},
                {"path": SECRET_PATHS[0], "value": f"{self.secret}-db-{version}", "isSecret": True},
                {"path": SECRET_PATHS[1], "value": f"{self.secret}-token", "isSecret": True},
            ],
            "receivesClusterSecrets": True,
            "ingressEnabled": True,
            "hostname": f"{rt_id}.canary.example",
            "messageId": message_id,
        }
        return {**body, **extra}

    def invalid_request(self) -> dict[str, Any]:
        """A request with the canary in every secret field, and problems elsewhere (and in
        the secret fields' neighbours), so that every error message is covered."""
        data = self.request(A, "bad-1", chartName="", workloadType=2)
        data["values"] = [
            *data["values"],
            {"value": f"{self.secret}-orphan", "isSecret": True},  # no path
            {"path": "x", "value": f"{self.secret}-flag", "isSecret": "true"},
        ]
        data["repositoryUrl"] = f"https://u:{self.secret}\x00@charts.canary.example/"
        data["reportedAt"] = "not a time"
        return data

    def invalid_types(self) -> dict[str, Any]:
        """The secret fields themselves of the wrong type, holding the canary."""
        return self.request(
            A,
            "bad-2",
            repositoryPassword=[self.secret],
            repositoryUsername={"u": self.secret},
            valuesYaml=[self.secret],
        )


def messages(canary: Canary) -> list[dict[str, Any]]:
    """A: request, progress, failed outcome, request (new values), success; B: a request
    left open an hour ago (overdue); C: request, success, undeploy."""
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    who = {"tenantId": TENANT}
    return [
        canary.request(A, "a-req-1"),
        {**who, "kind": "progress", "workloadName": f"app-{A}", "workloadRtId": A}
        | {"message": "Pod app-a-1 container 'app' waiting: ImagePullBackOff", "messageId": "a-p"},
        {**who, "workloadName": f"app-{A}", "workloadRtId": A, "poolName": "pool-1"}
        | {"success": False, "messageId": "a-o-1"}
        | {
            "statusMessage": "helm upgrade --install app-a failed with exit code 1. stderr: "
            "Error: UPGRADE FAILED: timed out waiting for the condition\n"
        },
        canary.request(A, "a-req-2", version="1.0.1"),
        {**who, "kind": "outcome", "workloadName": f"app-{A}", "workloadRtId": A}
        | {"poolName": "pool-1", "success": True, "messageId": "a-o-2"},
        canary.request(B, "b-req-1", reportedAt=an_hour_ago),
        canary.request(C, "c-req-1"),
        {**who, "kind": "outcome", "workloadName": f"app-{C}", "workloadRtId": C}
        | {"poolName": "pool-1", "success": True, "messageId": "c-o-1"},
        {**who, "kind": "undeploy", "poolRtId": "pool-rt-1", "workloadName": f"app-{C}"}
        | {"workloadRtId": C, "workloadType": "Application", "messageId": "c-u-1"},
    ]


# ---------------------------------------------------------------------------------------
# Where the canary is searched for


def stored_bytes(url: str) -> dict[str, bytes]:
    """Everything the store holds, as bytes: every file of the SQLite database (the main
    file, -wal, -shm, -journal), or a plain `pg_dump` of the PostgreSQL database with its
    bytea values (the events) decoded beside it."""
    if is_sqlite(url):
        path = sqlite_path(url)
        found = {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}
        assert path.name in found
        return found
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", url],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    decoded = b"".join(
        bytes.fromhex(h.decode()) for h in re.findall(rb"\\\\x((?:[0-9a-f]{2})+)", dump)
    )
    assert decoded, "the dump holds no bytea value: the events were not found in it"
    return {"pg_dump": dump, "pg_dump bytea decoded": decoded}


def assert_nowhere(canary: Canary, places: dict[str, str | bytes]) -> None:
    leaks = []
    for name, content in places.items():
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        for form in canary.forms:
            if form in data:
                at = data.index(form)
                leaks.append(f"{name}: ...{data[max(0, at - 120) : at + 60]!r}...")
                break
    assert not leaks, "the canary leaked:\n" + "\n".join(leaks)


def assert_somewhere(needle: str, places: dict[str, str | bytes], where: str) -> None:
    data = needle.encode()
    assert any(
        data in (c.encode("utf-8", "surrogatepass") if isinstance(c, str) else c)
        for c in places.values()
    ), f"{needle!r} is not in {where}: the search cannot see the data"


def assert_non_secrets_stored(canary: Canary, url: str, stored: dict[str, bytes]) -> None:
    for needle in [canary.visible, *SECRET_PATHS, "https://charts.canary.example/x"]:
        assert_somewhere(needle, dict(stored), f"the store ({url.split(':')[0]})")


def shown(error: BaseException) -> dict[str, str]:
    """What an error shows: its message, repr, problems and the traceback logging prints."""
    problems = getattr(error, "problems", [])
    return {
        "str": str(error),
        "repr": repr(error),
        "problems": repr(problems) + "".join(map(str, problems)),
        "traceback": "".join(traceback.format_exception(error)),
    }


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, at DEBUG, captured: the root logger and every
    logger that sets a level of its own (SQLAlchemy sets WARN on `sqlalchemy`; at DEBUG it
    logs each statement with its parameters)."""
    caplog.set_level(logging.DEBUG)
    named = [
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    ]
    for name in {"sqlalchemy", "alembic", "eventsourcing", "psycopg", *named}:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            lines.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Through the library


def test_the_library_never_stores_shows_or_logs_a_secret(
    migrated_url: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    canary = Canary()
    sent = messages(canary)
    places: dict[str, str | bytes] = {}
    with Ledger.open(migrated_url, create=True, snapshot_interval=2) as ledger:
        # One at a time, as a dict, as JSON text, as JSON bytes and as a model.
        receipts = [ledger.record(sent[0]), ledger.record(json.dumps(sent[1]))]
        receipts.append(ledger.record(json.dumps(sent[2]).encode()))
        model = parse_message(sent[3])
        assert isinstance(model, WorkloadDeployed)
        receipts.append(ledger.record(model))
        receipts += ledger.record_many(sent[4:])
        assert [r.kind for r in receipts] == [
            "request",
            "progress",
            "outcome",
            "request",
            "outcome",
            "request",
            "request",
            "outcome",
            "undeploy",
        ]
        assert not any(r.duplicate for r in receipts)

        # A resend is a duplicate; a resend with another secret value is a conflict (its
        # values digest differs), and its message names no secret.
        again = ledger.record(sent[0])
        assert again.duplicate
        assert again.position == receipts[0].position
        changed = canary.request(A, "a-req-1")
        changed["values"][2]["value"] += "-rotated"
        with pytest.raises(IdempotencyConflict) as conflict:
            ledger.record(changed)
        assert "a-req-1" in str(conflict.value)
        places.update({f"conflict {k}": v for k, v in shown(conflict.value).items()})
        with pytest.raises(IdempotencyConflict) as in_batch:
            ledger.record_many([sent[4], {**changed, "valuesYaml": "other"}])
        places.update({f"batch conflict {k}": v for k, v in shown(in_batch.value).items()})

        # Invalid requests: every problem is named, no secret is echoed.
        for number, bad in enumerate([canary.invalid_request(), canary.invalid_types()]):
            with pytest.raises(InvalidReport) as invalid:
                ledger.record(bad)
            assert len(invalid.value.problems) >= 3
            places.update({f"invalid {number} {k}": v for k, v in shown(invalid.value).items()})
        with pytest.raises(InvalidReport) as batch:
            ledger.record_many([sent[0], canary.invalid_request(), json.dumps(sent[5])])
        places.update({f"invalid batch {k}": v for k, v in shown(batch.value).items()})

        assert ledger.catch_up() >= 0
        rebuilt = ledger.rebuild()
        assert rebuilt.workloads == 3

        answers: dict[str, Any] = {
            "receipts": [*receipts, again],
            "current": [ledger.current(TENANT, rt) for rt in (A, B, C)],
            "get": [ledger.get(TENANT, rt) for rt in (A, B, C)],
            "history": [ledger.history(TENANT, rt) for rt in (A, B, C)],
            "timeline": [ledger.timeline(TENANT, rt) for rt in (A, B, C)],
            "workloads": [
                ledger.workloads(),
                ledger.workloads(tenant_id=TENANT, state="pending"),
                ledger.workloads(pool_name="pool-1"),
            ],
            "audit": [ledger.audit().items, ledger.audit(tenant_id=TENANT, grep="helm").items],
            "overdue": [ledger.overdue(), ledger.overdue(timedelta(0), tenant_id=TENANT)],
            "models": [parse_message(m) for m in sent] + [model],
        }
        for name, value in answers.items():
            places[f"{name} repr"] = repr(value)
            places[f"{name} str"] = str(value)
            places[f"{name} json"] = json.dumps(_json(value), default=str)

        # The answers hold what they should: the check can see the data.
        timeline_a = [e.to_json() for e in answers["timeline"][0]]
        requests = [e for e in timeline_a if e["kind"] == "request"]
        assert [r["secretPaths"] for r in requests] == [SECRET_PATHS, SECRET_PATHS]
        assert requests[0]["overrides"] == [{"path": "image.tag", "value": canary.visible}]
        assert requests[0]["repositoryUrl"] == "https://charts.canary.example/x"
        assert requests[0]["valuesChanged"] is True  # the newest: the secret value changed
        assert requests[1]["valuesChanged"] is None
        assert [o.workload_rt_id for o in answers["overdue"][0]] == [B]
        assert ledger.get(TENANT, C).state.label == "Undeployed"
        history_a = answers["history"][0]
        assert [(h.attempt, h.helm_operation, h.exit_code) for h in history_a] == [
            (2, None, None),
            (1, "upgrade --install app-a", 1),
        ]

    stored = stored_bytes(migrated_url)
    assert_non_secrets_stored(canary, migrated_url, stored)
    places.update(stored)
    logs = log_text(debug_logs)
    # SQLAlchemy logged the read model's statements with their parameters (the rows that go
    # in bulk are written through the driver, unlogged): the search sees data.
    assert f"'app-{A}'" in logs, "the logs show no parameters: the search is empty"
    places["logs"] = logs
    assert_nowhere(canary, places)


def _json(value: Any) -> Any:
    """Every answer (and list of answers) as its JSON form."""
    if isinstance(value, list):
        return [_json(v) for v in value]
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "model_dump_json"):
        return json.loads(value.model_dump_json())
    return value


# ---------------------------------------------------------------------------------------
# Through the CLI


def _jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)


def test_the_cli_never_stores_prints_or_logs_a_secret(migrated_url: str, tmp_path: Path) -> None:
    cli = Runner()  # in this process, as a new one would run it
    canary = Canary()
    sent = messages(canary)
    if not is_sqlite(migrated_url):
        cli("migrate", store=migrated_url)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "all.jsonl").write_text(_jsonl(sent), encoding="utf-8")
    changed = canary.request(A, "a-req-1")
    changed["values"][1]["value"] += "-rotated"
    (inputs / "conflict.json").write_text(json.dumps(changed), encoding="utf-8")
    (inputs / "invalid.json").write_text(
        json.dumps([canary.invalid_request(), canary.invalid_types()]), encoding="utf-8"
    )
    (inputs / "broken.jsonl").write_text(
        _jsonl([sent[0]]) + '{"kind": "request", "repositoryPassword": "' + canary.secret,
        encoding="utf-8",
    )
    (inputs / "bare.json").write_text(  # a secret where JSON wants a value
        "[" + json.dumps(sent[0]) + ", " + canary.secret + "]", encoding="utf-8"
    )
    outputs: dict[str, str | bytes] = {}

    def keep(name: str, result: Any) -> Any:
        outputs[f"{name} stdout"] = result.out
        outputs[f"{name} stderr"] = result.err
        return result

    first = keep("record", cli("record", "-o", "jsonl", inputs / "all.jsonl", store=migrated_url))
    receipts = first.json_lines()
    assert [r["kind"] for r in receipts] == [m.get("kind", "outcome") for m in sent]
    assert not any(r["duplicate"] for r in receipts)
    for fmt in FORMATS:  # every resend is a duplicate, in every output format
        again = keep(
            f"record again -o {fmt}",
            cli("record", "-o", fmt, inputs / "all.jsonl", store=migrated_url),
        )
        assert again.out.count("true" if fmt != "table" else "duplicate") >= len(sent)
    for name, code in [
        ("conflict.json", 2),
        ("invalid.json", 2),
        ("broken.jsonl", 2),
        ("bare.json", 2),
    ]:
        refused = keep(
            f"record {name}", cli("record", inputs / name, store=migrated_url, expect=code)
        )
        assert refused.err.strip(), f"record {name} said nothing"
    keep(
        "record stdin", cli("record", "-", stdin=json.dumps(changed), store=migrated_url, expect=2)
    )
    keep("project", cli("project", store=migrated_url))
    keep("rebuild", cli("rebuild", store=migrated_url))

    reads: dict[str, list[str]] = {
        "show A": ["show", TENANT, A],
        "show B": ["show", TENANT, B],
        "history A": ["history", TENANT, A],
        "history A --attempts": ["history", "--attempts", TENANT, A],
        "status": ["status"],
        "audit": ["audit", "--tenant", TENANT],
        "overdue": ["overdue"],
    }
    running = {
        (name, fmt): cli.spawn(*args, "-o", fmt, store=migrated_url)
        for name, args in reads.items()
        for fmt in FORMATS
    }
    running[("history A --full", "table")] = cli.spawn(
        "history", "--full", TENANT, A, store=migrated_url
    )
    results = {key: proc.result() for key, proc in running.items()}
    for (name, fmt), result in results.items():
        keep(f"{name} -o {fmt}", result)

    # The outputs hold what they should: the check can see the data.
    timeline = results[("history A", "json")].json()
    requests = [e for e in timeline if e["kind"] == "request"]
    assert [r["secretPaths"] for r in requests] == [SECRET_PATHS, SECRET_PATHS]
    assert requests[0]["overrides"] == [{"path": "image.tag", "value": canary.visible}]
    overdue = results[("overdue", "json")].json()
    assert [o["workloadRtId"] for o in overdue] == [B]

    stored = stored_bytes(migrated_url)
    assert_non_secrets_stored(canary, migrated_url, stored)
    assert_nowhere(canary, {**outputs, **stored})
