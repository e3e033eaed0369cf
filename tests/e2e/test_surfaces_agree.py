"""The CLI, the HTTP service and the library accept and refuse the same inputs alike, with
the same message: times, durations and limits go through one rule
(`deployledger.domain.arguments`) whatever the surface.

The CLI runs in this process (`deployledger.cli.main` under click's CliRunner isolation),
HTTP through FastAPI's TestClient, the library as a controller would call it with text in
hand (`parse_when`, `parse_duration`, `int`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from http_support import Tokens, bearer, in_process, problem_of
from support import report

from deployledger import InvalidQuery, Ledger, parse_duration, parse_when
from deployledger.cli import main

# (parameter, value): times, the bare number a time refuses, limits at and past each end.
AUDIT_INPUTS = [
    ("since", "1h30m"),
    ("since", "24h"),
    ("since", "2026-11-01"),
    ("since", "2026-11-01T10:00:00+02:00"),
    ("since", "900"),
    ("since", "yesterday"),
    ("since", "-5m"),
    ("since", "99999999999d"),
    ("until", "1h30m"),
    ("until", "900"),
    ("limit", "1"),
    ("limit", "10000"),
    ("limit", "0"),
    ("limit", "10001"),
    ("limit", "-3"),
]
# Durations: units in a row, and a bare number of seconds.
OVERDUE_INPUTS = ["900", "90.5", "1h30m", "15m", "0s", "1.5h", "-5", "soon", "99999999999d"]


class Outcome:
    """What one surface said: None when it accepted the input, else its message."""

    def __init__(self, refused: str | None) -> None:
        self.refused = refused


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestClient, Tokens]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('agree') / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        ledger.record(report(tenantId="acme"))
    with in_process(url) as (client, tokens):
        yield url, client, tokens


def cli(url: str, *args: str) -> Outcome:
    """`deployledger --store URL ARGS...` in this process: None on exit 0, else stderr."""
    runner = CliRunner()
    with runner.isolation() as (_, err, _):
        try:
            main(["--store", url, *args])
        except SystemExit as e:
            code = e.code
    stderr = err.getvalue().decode()
    if code == 0:
        return Outcome(None)
    assert code == 2, (code, stderr)
    (line,) = stderr.splitlines()
    return Outcome(line)


def http(client: TestClient, token: str, path: str, params: dict[str, str]) -> Outcome:
    answer: Any = client.get(path, params=params, headers=bearer(token))
    if answer.status_code == 200:
        return Outcome(None)
    (problem,) = problem_of(answer, 422)["problems"]
    return Outcome(f"{problem['field']}: {problem['reason']}")


def library(call: Callable[[], Any]) -> Outcome:
    try:
        call()
    except InvalidQuery as e:
        return Outcome(str(e))
    return Outcome(None)


def assert_alike(value: str, lib: Outcome, by_cli: Outcome, by_http: Outcome) -> None:
    accepted = (lib.refused is None, by_cli.refused is None, by_http.refused is None)
    assert accepted in {(True, True, True), (False, False, False)}, (value, accepted)
    if lib.refused is not None:
        assert by_cli.refused is not None
        assert by_http.refused is not None
        assert lib.refused in by_cli.refused
        assert by_http.refused.endswith(": " + lib.refused)


@pytest.mark.parametrize(("name", "value"), AUDIT_INPUTS)
def test_audit_accepts_and_refuses_alike_on_every_surface(
    served: tuple[str, TestClient, Tokens], name: str, value: str
) -> None:
    url, client, tokens = served

    def call() -> None:
        with Ledger.open(url) as ledger:
            if name == "limit":
                ledger.audit(limit=int(value))
            elif name == "since":
                ledger.audit(since=parse_when(value, name=name))
            else:
                ledger.audit(until=parse_when(value, name=name))

    assert_alike(
        value,
        library(call),
        cli(url, "audit", f"--{name}={value}", "-o", "json"),
        http(client, tokens.admin, "/v1/audit", {name: value}),
    )


@pytest.mark.parametrize("value", OVERDUE_INPUTS)
def test_overdue_durations_read_alike_on_every_surface(
    served: tuple[str, TestClient, Tokens], value: str
) -> None:
    url, client, tokens = served

    def call() -> None:
        with Ledger.open(url) as ledger:
            ledger.overdue(older_than=parse_duration(value, "older_than"))

    assert_alike(
        value,
        library(call),
        cli(url, "overdue", f"--older-than={value}", "--json"),
        http(client, tokens.admin, "/v1/overdue", {"olderThan": value}),
    )


def test_the_inputs_cover_both_answers() -> None:
    # Each set holds inputs every surface accepts and inputs every surface refuses.
    def refused(parse: Callable[[str], Any], value: str) -> bool:
        return library(lambda: parse(value)).refused is not None

    times = [refused(parse_when, v) for n, v in AUDIT_INPUTS if n != "limit"]
    durations = [refused(parse_duration, v) for v in OVERDUE_INPUTS]
    assert any(times)
    assert not all(times)
    assert any(durations)
    assert not all(durations)
