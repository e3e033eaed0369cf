"""The CLI and the dashboard render the same failure with the same headline.

One corpus of messages (tests/data/helm_failures.jsonl, the same wrapped by the operator as
`helm … failed with exit code N. stderr: …`, and messages holding control, C1, bidi and
zero-width characters) is recorded, one failing workload per message. Then, for each:
`show`'s reason line, `status`'s REASON cell and `history`'s MESSAGE cell (the CLI, in this
process), and the fleet page's reason, the workload page's reason and its timeline headline
(the dashboard, through the real app) are one and the same text: the shared
`deployledger.presentation` headline, made safe, cut to the same width.

`show` and the workload page also label a workload's fields alike, with the same values:
the last measured duration reads `last measured` on both, after a success that closed no
request as before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from dashboard_data import Node, parse_html
from fastapi.testclient import TestClient
from http_support import in_process
from support import report, request

from deployledger import Ledger
from deployledger.cli import cli as deployledger_cli
from deployledger.presentation import headline, summary

CORPUS = Path(__file__).parent.parent / "data" / "helm_failures.jsonl"
TENANT = "corpus-co"
# What never reaches a terminal or a page raw, each inside an otherwise ordinary failure.
HOSTILE = [
    "Error: UPGRADE FAILED: pod \u202elive\u202c failed",  # bidi override: reads "evil"
    "Error: UPGRADE FAILED: \x1b[31mred\x1b[0m and a bell \x07",  # ANSI colour, BEL
    "Error: INSTALLATION FAILED: zero\u200bwidth and \u2066isolate\u2069",
    "Error: UPGRADE FAILED: C1 \x9b31m and DEL \x7f",
    "helm upgrade --install spoof failed with exit code 1. stderr: Error: \u202etxet\u202c",
    "Error: a\u2028line separator and a\u2029paragraph",
]
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def corpus() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    bare = [json.loads(line)["message"] for line in lines if line.strip()]
    wrapped = [
        f"helm upgrade --install rel-{i} failed with exit code {1 + i % 3}. stderr: {message}"
        for i, message in enumerate(bare)
        if not message.startswith("helm ")
    ][:40]
    return bare + wrapped + HOSTILE


@dataclass(frozen=True)
class Store:
    url: str
    messages: dict[str, str]  # workload runtime id -> its failure message


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    url = f"sqlite:///{tmp_path_factory.mktemp('headlines') / 'ledger.db'}"
    messages = {f"{0xC0FFEE000000 + i:024x}": m for i, m in enumerate(corpus())}
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many(
            [
                report(rt, tenant=TENANT, name=f"app-{i}", success=False, message=m)
                for i, (rt, m) in enumerate(messages.items())
            ]
        )
    return Store(url, messages)


@pytest.fixture(scope="module")
def dashboard(store: Store) -> Iterator[TestClient]:
    with in_process(store.url, auth=False) as (client, _):
        yield client


def cli(store: Store, *args: str) -> str:
    result = CliRunner().invoke(
        deployledger_cli, ["--store", store.url, *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def last_column(table: str, header: str) -> dict[str, str]:
    """The cell under `header` (the table's last column) of each row, keyed by the row."""
    lines = table.splitlines()
    start = lines[0].index(header)
    return {line: line[start:] for line in lines[1:]}


def test_the_corpus_holds_wrapped_and_hostile_messages() -> None:
    messages = corpus()
    assert len(messages) > 100
    assert sum(m.startswith("helm ") and "stderr: " in m for m in messages) >= 40
    assert sum(bool(RAW.search(m)) for m in messages) >= len(HOSTILE)


def test_status_show_history_and_the_pages_show_one_headline(
    store: Store, dashboard: TestClient
) -> None:
    status = last_column(cli(store, "status", "--tenant", TENANT), "REASON")
    fleet = parse_html(dashboard.get(f"/?tenant={TENANT}").text)
    fleet_reason: dict[str, str] = {}
    for tr in fleet.find("table", "fleet").find("tbody").find_all("tr"):
        rt = tr.find("td", "c-name").find("a").attrs["title"]
        fleet_reason[rt] = tr.find("td", "c-reason").find("span", "headline").text
    for rt, message in store.messages.items():
        expected = summary(message)
        assert not RAW.search(expected), message
        shown = {"status": next(cell for row, cell in status.items() if rt in row)}
        show = cli(store, "show", TENANT, rt)
        shown["show"] = next(
            line.split("reason", 1)[1].strip() for line in show.splitlines() if "  reason  " in line
        )
        history = last_column(cli(store, "history", TENANT, rt), "MESSAGE")
        shown["history"] = next(iter(history.values()))
        page = workload_page(dashboard, rt)
        shown["fleet page"] = fleet_reason[rt]
        shown["workload page"] = page.find("p", "reason").find("span", "headline").text
        shown["timeline"] = page.find("p", "failure").find("span", "headline").text
        assert shown == dict.fromkeys(shown, expected), message


def workload_page(client: TestClient, rt: str) -> Node:
    response = client.get(f"/workloads/{TENANT}/{rt}")
    assert response.status_code == 200
    return parse_html(response.text)


def test_a_wrapped_failure_is_headed_by_its_stderr_with_operation_and_exit_code(
    store: Store, dashboard: TestClient
) -> None:
    rt, message = next(
        (rt, m) for rt, m in store.messages.items() if m.startswith("helm upgrade --install rel-")
    )
    line = headline(message)
    assert line.startswith("Error:")
    assert "(helm upgrade --install rel-" in line
    assert ", exit code " in line
    assert summary(message) in cli(store, "show", TENANT, rt)


def test_no_control_or_bidi_character_reaches_the_cli_or_the_page_raw(
    store: Store, dashboard: TestClient
) -> None:
    for rt, message in store.messages.items():
        if not RAW.search(message.replace("\n", "")):
            continue
        for text in (
            cli(store, "show", TENANT, rt),
            cli(store, "history", TENANT, rt, "--full"),
            dashboard.get(f"/workloads/{TENANT}/{rt}").text,
        ):
            assert not RAW.search(text.replace("\n", "").replace("\t", "")), repr(text)
    page = dashboard.get(f"/?tenant={TENANT}").text
    assert not RAW.search(page.replace("\n", ""))
    assert "\\u202e" in page
    assert "\\x1b[31m" in page


# What the workload page shows that `show` leaves out (the workload type is in `-o json`).
PAGE_ONLY = {"type"}


def test_show_and_the_workload_page_label_the_last_measured_duration_alike(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'labels.db'}"
    rt, t0 = "64f1c0ffee0000000000beef", datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with Ledger.open(url, create=True) as ledger:
        ledger.record(request(rt, tenant=TENANT, reportedAt=t0.isoformat()))
        for minutes in (1.5, 60):  # closes the request after 1m 30s; then closes none
            at = (t0 + timedelta(minutes=minutes)).isoformat()
            ledger.record(report(rt, tenant=TENANT, success=True, reportedAt=at))
    show = cli(Store(url, {}), "show", TENANT, rt)
    shown = dict(
        (line[2:18].strip(), line[18:].strip())
        for line in show.splitlines()[1:]
        if line.startswith("  ") and line[2] != " "
    )
    assert shown["last measured"] == "1m 30s"
    with in_process(url, auth=False) as (client, _):
        page = parse_html(client.get(f"/workloads/{TENANT}/{rt}").text)
    summary_list = page.find("section", "summary").find("dl")
    labels = [dt.text.strip().lower() for dt in summary_list.find_all("dt")]
    values = [dd.text.strip() for dd in summary_list.find_all("dd")]
    on_page = dict(zip(labels, values, strict=True))
    assert on_page["last measured"] == "1m 30s"
    assert set(on_page) - PAGE_ONLY <= set(shown), set(on_page) - set(shown)
