"""The set-based rebuild's SQL takes every kind and state number from the domain's enums
and rules, never from a literal: no SQL module compares a kind with a bare number or writes
a state as one, and the expressions that do write them say what the domain says."""

from __future__ import annotations

import inspect
import re
import sqlite3

import pytest

from deployledger.domain.workload.aggregate import state_after
from deployledger.domain.workload.fold import registered
from deployledger.domain.workload.kinds import EventKind
from deployledger.domain.workload.state import DeploymentState
from deployledger.store.rebuild import fold as setfold
from deployledger.store.rebuild import sql as setsql
from deployledger.store.rebuild import stage as setstage

MODULES = [setfold, setsql, setstage]
# A kind compared with, or listed as, a bare number; a CASE on a kind or success that
# yields bare numbers; a folded number column set to a bare number; a topic mapped to one.
LITERALS = [
    r"kind\s*(=|==|<>|!=|<=|>=|<|>)\s*\d",
    r"kind\s+(NOT\s+)?IN\s*\(\s*\d",
    r"kind\s+WHEN\s+\d",
    r"WHEN\s+\S*success\S*\s+THEN\s+\d",
    r"WHEN\s+\d+\s+THEN",
    r"\b(state|attempts|failures|consecutive_failures)\s*=\s*['\"]\d",
    r"(REGISTERED|ATTEMPTED|REQUESTED|PROGRESSED|UNDEPLOYED)\s*:\s*\d",
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_sql_module_writes_a_kind_or_state_as_a_bare_number(module: object) -> None:
    source = inspect.getsource(module)  # type: ignore[arg-type]
    found = [m.group(0) for p in LITERALS for m in re.finditer(p, source, re.IGNORECASE)]
    assert found == []


def test_the_grep_finds_the_literals_it_forbids() -> None:
    old = (
        '"s.kind = 1", "s.kind IN (2, 4)", "CASE s.kind WHEN 1 THEN CASE WHEN s.success '
        'THEN 2 ELSE 3 END WHEN 4 THEN 0 ELSE 1 END", state="0", {REGISTERED: 0}'
    )
    found = [m.group(0) for p in LITERALS for m in re.finditer(p, old, re.IGNORECASE)]
    assert len(found) >= 6


def test_the_staged_kinds_are_the_enums() -> None:
    assert sorted(setsql.KINDS.values()) == list(EventKind)
    assert all(isinstance(k, EventKind) for k in setsql.KINDS.values())


def evaluate(expression: str, **columns: object) -> object:
    names = ", ".join(f":{n} AS {n}" for n in columns)
    with sqlite3.connect(":memory:") as db:
        return db.execute(f"SELECT {expression} FROM (SELECT {names})", columns).fetchone()[0]


@pytest.mark.parametrize("kind", [k for k in EventKind if k is not EventKind.REGISTERED])
@pytest.mark.parametrize("success", [True, False])
def test_the_state_case_is_the_domains_state_after(kind: EventKind, success: bool) -> None:
    expression = setsql.state_case("kind", "success")
    found = evaluate(expression, kind=int(kind), success=success)
    assert found == int(state_after(kind.word, {"success": success}))


@pytest.mark.parametrize("success", [True, False])
def test_an_outcomes_state_is_the_domains(success: bool) -> None:
    found = evaluate(setsql.outcome_state("success"), success=success)
    assert found == int(DeploymentState.after_attempt(success))


def test_kind_tests_and_lifecycle_words_come_from_the_enum() -> None:
    assert setsql.kind_is("k", EventKind.UNDEPLOY) == f"k = {int(EventKind.UNDEPLOY)}"
    for kind in EventKind:
        is_lifecycle = evaluate(setsql.lifecycle_word("kind"), kind=int(kind))
        want = (
            kind.word
            if kind in (EventKind.REQUEST, EventKind.PROGRESS, EventKind.UNDEPLOY)
            else None
        )
        assert is_lifecycle == want
        listed = evaluate(
            setsql.kind_is("kind", EventKind.OUTCOME, EventKind.REQUEST), kind=int(kind)
        )
        assert bool(listed) == (kind in (EventKind.OUTCOME, EventKind.REQUEST))


def test_a_registered_workloads_numbers_are_the_folds() -> None:
    for name in ("state", "attempts", "failures", "consecutive_failures"):
        assert setsql.registered_value(name) == str(registered()[name])
