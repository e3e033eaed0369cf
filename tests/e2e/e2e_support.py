"""End-to-end support: run the installed `deployledger` console script as a subprocess.

Every run goes through `run_cli`, which asserts that stderr never shows a Python
traceback, whatever the exit code. `DEPLOYLEDGER_*` variables (the store, the read
model) are removed from the child's environment unless a test sets them explicitly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


class Running:
    """A CLI process started by `spawn`; `result()` waits for it and checks it."""

    def __init__(self, argv: list[str], proc: subprocess.Popen[bytes], data: bytes | None) -> None:
        self.argv, self._proc, self._data = argv, proc, data

    def result(self, expect: int | None = 0) -> Result:
        try:
            out, err = self._proc.communicate(self._data, timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise
        result = Result(self.argv, self._proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
        where = f"{self.argv[1:]!r} exited {result.code}\n"
        where += f"--- stdout\n{result.out}\n--- stderr\n{result.err}"
        assert "Traceback" not in result.err, where
        assert "Exception ignored" not in result.err, where
        if expect is not None:
            assert result.code == expect, where
        return result


def spawn(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Running:
    """Start `deployledger [--store STORE] ARGS...` without waiting for it, so that
    independent read-only commands can run side by side (each start costs ~0.5-1 s)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYLEDGER_")}
    child_env.update(env or {})
    argv = [CLI, *(["--store", store] if store is not None else []), *map(str, args)]
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
        cwd=cwd,
    )
    return Running(argv, proc, data)


def run_cli(
    *args: str | os.PathLike[str],
    store: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    expect: int | None = 0,
) -> Result:
    """Run `deployledger [--store STORE] ARGS...` to the end; check its exit code (unless
    `expect=None`) and that stderr shows no traceback."""
    return spawn(*args, store=store, stdin=stdin, env=env, cwd=cwd).result(expect)


class Runner:
    """`cli(...)` runs one command; `cli.spawn(...)` starts one and returns a `Running`."""

    run = staticmethod(run_cli)
    spawn = staticmethod(spawn)

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        return run_cli(*args, **kwargs)


Cli = Runner


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
