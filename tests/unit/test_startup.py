"""Start-up: `import deployledger` and the CLI's `--version` and `--help` import none of the
heavy libraries (the store's SQLAlchemy and psycopg, the messages' pydantic, the log's
cryptography, the HTTP service's FastAPI and uvicorn); each command imports what it uses.

Checked in a fresh interpreter, by the modules it has imported: no timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import deployledger

HEAVY = [
    "alembic",
    "cryptography",
    "eventsourcing",
    "fastapi",
    "jinja2",
    "psycopg",
    "pydantic",
    "rich",
    "sqlalchemy",
    "starlette",
    "uvicorn",
]

# Runs the CLI in-process (its `main`, as the script does) with the given arguments, then
# prints the heavy libraries it imported, as JSON, on stderr's last line.
PROBE = """
import contextlib, io, json, sys
args = json.loads(sys.argv[1])
if args is None:
    import deployledger
else:
    from deployledger.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(args)
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted(h for h in heavy if h in sys.modules)), file=sys.stderr)
"""


def heavy_imports(args: list[str] | None, tmp_path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DEPLOYLEDGER_STORE": f"sqlite:///{tmp_path}/x.db"},
    )
    found: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "args",
    [
        None,
        ["--version"],
        ["--help"],
        [],
        ["record", "--help"],
        ["status", "--help"],
        ["serve", "--help"],
        ["verify-bundle", "--help"],
        ["no-such-command"],
    ],
    ids=lambda a: "import" if a is None else " ".join(a) or "no-args",
)
def test_start_up_imports_no_heavy_library(args: list[str] | None, tmp_path: Path) -> None:
    assert heavy_imports(args, tmp_path) == []


def test_the_probe_sees_what_a_command_imports(tmp_path: Path) -> None:
    """`status` opens the store: the check would see SQLAlchemy (it is not blind)."""
    found = heavy_imports(["status"], tmp_path)
    assert "sqlalchemy" in found
    assert "fastapi" not in found


def test_a_lazily_imported_name_is_the_defining_modules_own() -> None:
    from deployledger.domain.messages.reports import WorkloadDeploymentStatus
    from deployledger.service.ledger import Ledger

    assert deployledger.Ledger is Ledger
    assert deployledger.WorkloadDeploymentStatus is WorkloadDeploymentStatus


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = deployledger.no_such_name  # type: ignore[attr-defined]
    assert not hasattr(deployledger, "no_such_name")
