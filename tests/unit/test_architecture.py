"""The architecture, checked: the import-linter contracts (written against packages) hold,
catch a new module that breaks them, and no module imports another in a cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
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


# -- the import-linter contracts, written against packages --------------------------------

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "400"},  # one line per finding
    )


def copy_of_the_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, root / "deployledger", ignore=ignore)
    shutil.copytree(REPO / "devtools", root / "devtools", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture(scope="module")
def lint_graph_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_the_project(tmp_path_factory.mktemp("contracts"))


def test_the_contracts_hold_for_the_package(lint_graph_root: Path) -> None:
    result = lint_imports(lint_graph_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "source", "contract"),
    [
        ("domain/newmod.py", "import sqlalchemy\n", "The pure layers"),
        ("domain/workload/newmod.py", "from fastapi import FastAPI\n", "The pure layers"),
        ("projections/newmod.py", "import click\n", "The pure layers"),
        ("domain/newmod.py", "import sqlite3\n", "The pure layers"),
        (
            "domain/newmod.py",
            "from eventsourcing.persistence import StoredEvent\n",
            "The pure layers",
        ),
        (
            "store/readmodel/newmod.py",
            "from eventsourcing.persistence import StoredEvent\n",
            "Only the event-store package",
        ),
        ("store/newmod.py", "import eventsourcing.postgres\n", "Only the event-store package"),
        ("service/newmod.py", "from deployledger.store import database\n", "built in one place"),
        ("cli/newmod.py", "from deployledger.store import database\n", "public API only"),
        ("presentation/newmod.py", "from fastapi import FastAPI\n", "The pure layers"),
        ("presentation/newmod.py", "from deployledger.http import app\n", "Layers"),
    ],
)
def test_a_new_module_that_breaks_a_contract_fails_the_lint(
    tmp_path: Path, where: str, source: str, contract: str
) -> None:
    root = copy_of_the_project(tmp_path)
    (root / "deployledger" / where).write_text(source, encoding="utf-8")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [
        block for block in result.stdout.split("\n\n") if contract in block and "BROKEN" in block
    ]
    assert broken, result.stdout
    module = "deployledger." + where.removesuffix(".py").replace("/", ".")
    assert module in result.stdout.split("Broken contracts")[1]


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("deployledger")
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the direct imports (iterative: the graph may be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found
