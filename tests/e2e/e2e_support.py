"""End-to-end support: run the installed `deployledger` console script as a subprocess.

Every run goes through `run_cli`, which asserts that stderr never shows a Python
traceback, whatever the exit code. `DEPLOYLEDGER_STORE` is removed from the
child's environment unless a test sets it explicitly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "deployledger")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "reports.jsonl"
TENANT = "acme-prod"
RTID = "64f1c0ffee0000000000beef"  # checkout-api: 7 attempts, 4 failures, the last one failed

RECEIPT_KEYS = {
    "tenantId",
    "workloadRtId",
    "attempt",
    "position",
    "recordedAt",
    "state",
    "duplicate",
}
STATE_KEYS = {
    "tenantId",
    "workloadRtId",
    "workloadName",
    "poolName",
    "state",
    "statusMessage",
    "attempts",
    "failures",
    "consecutiveFailures",
    "lastAttemptAt",
    "lastSuccessAt",
    "lastFailureAt",
}
HISTORY_KEYS = {
    "attempt",
    "recordedAt",
    "reportedAt",
    "success",
    "state",
    "statusMessage",
    "workloadName",
    "poolName",
    "messageId",
    "position",
}


@dataclass(frozen=True)
class Result:
    """What one CLI process did."""

    argv: list[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]

    def lines(self) -> list[str]:
        return self.out.splitlines()


def run_cli(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    expect: int | None = 0,
) -> Result:
    """Run `deployledger [--store STORE] ARGS...`; check the exit code and the absence of
    a traceback. `expect=None` skips the exit-code check."""
    child_env = {k: v for k, v in os.environ.items() if k != "DEPLOYLEDGER_STORE"}
    child_env.update(env or {})
    argv = [CLI, *(["--store", store] if store is not None else []), *map(str, args)]
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        argv,
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        env=child_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    result = Result(
        argv,
        proc.returncode,
        proc.stdout.decode("utf-8"),
        proc.stderr.decode("utf-8"),
    )
    where = f"{argv[1:]!r} exited {result.code}\n--- stdout\n{result.out}\n--- stderr\n{result.err}"
    assert "Traceback" not in result.err, where
    assert "Exception ignored" not in result.err, where
    if expect is not None:
        assert result.code == expect, where
    return result


Cli = Callable[..., Result]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def report(
    rtid: str, *, success: Any = True, message: str | None = "ok", **extra: Any
) -> dict[str, Any]:
    """A valid report for tenant `t-e2e`."""
    body: dict[str, Any] = {
        "tenantId": "t-e2e",
        "workloadName": "web",
        "workloadRtId": rtid,
        "poolName": "pool-a",
        "success": success,
        "statusMessage": message,
    }
    body.update(extra)
    return body
