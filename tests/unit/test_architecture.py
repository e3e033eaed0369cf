"""What import-linter cannot say: the pure layers use eventsourcing's domain module only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import deployledger

PACKAGE = Path(deployledger.__file__).parent
PURE = sorted(p for layer in ("domain", "projections") for p in (PACKAGE / layer).rglob("*.py"))
ALLOWED = {"eventsourcing.domain"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_there_are_pure_modules_to_check() -> None:
    assert len(PURE) >= 6


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_use_only_eventsourcing_domain(path: Path) -> None:
    used = {m for m in imported_modules(path) if m.split(".")[0] == "eventsourcing"}
    modules = {m for m in used if m.count(".") >= 1 and not m.startswith("eventsourcing.domain.")}
    assert modules <= ALLOWED, f"{path.name} imports {sorted(modules - ALLOWED)}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from eventsourcing.persistence import StoredEvent\n")
    assert "eventsourcing.persistence" in imported_modules(bad)
