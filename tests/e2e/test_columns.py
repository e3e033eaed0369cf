"""Every table's columns come from one place, `deployledger.presentation.columns`.

The CLI's `-o csv` header rows of `status`, `show`, `history`, `audit`, `overdue`,
`failures`, `stats` and `sink list` are exactly presentation's column lists, in order, and
their `-o json` rows have those keys; the dashboard's fleet, overdue and stats tables head
their columns with presentation's headers (label, class, tooltip), and each of those shows
a key of the same view's data. The CLI runs in this process, the dashboard through the real
app, on one seeded SQLite store.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence

import pytest
from click.testing import CliRunner
from dashboard_data import LATE_OLD, LATE_TENANT, XSS_RT_ID, XSS_TENANT, parse_html, seed
from fastapi.testclient import TestClient
from http_support import in_process

from deployledger import Ledger
from deployledger.cli import cli as deployledger_cli
from deployledger.presentation import columns
from deployledger.presentation.columns import Header


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('columns') / 'ledger.db'}"
    seed(url)
    with Ledger.open(url) as ledger:
        ledger.sinks.add("hook", url="http://127.0.0.1:9/hook", kind="webhook")
    return url


@pytest.fixture(scope="module")
def dashboard(url: str) -> Iterator[TestClient]:
    with in_process(url, auth=False) as (client, _):
        yield client


def cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(deployledger_cli, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


# Each command (its arguments before `-o`), and the columns presentation says it has.
COMMANDS: list[tuple[list[str], tuple[str, ...]]] = [
    (["status"], columns.STATE_COLUMNS),
    (["show", XSS_TENANT, XSS_RT_ID], columns.STATE_COLUMNS),
    (["history", LATE_TENANT, LATE_OLD], columns.TIMELINE_COLUMNS),
    (["history", XSS_TENANT, XSS_RT_ID, "--attempts"], columns.HISTORY_COLUMNS),
    (["audit"], columns.AUDIT_COLUMNS),
    (["overdue", "--older-than", "1m"], columns.OVERDUE_COLUMNS),
    (["failures", "--since", "1970-01-01"], columns.FAILURE_COLUMNS),
    (["stats", "--since", "7d"], columns.STATS_COLUMNS),
    (["sink", "list"], columns.SINK_COLUMNS),
]


@pytest.mark.parametrize(("args", "expected"), COMMANDS, ids=lambda v: " ".join(v)[:30])
def test_the_csv_header_and_the_json_keys_are_presentations_columns(
    url: str, args: list[str], expected: tuple[str, ...]
) -> None:
    (header, *rows) = csv.reader(io.StringIO(cli(url, *args, "-o", "csv"), newline=""))
    flags = [f"{name}Escaped" for name in columns.MESSAGE_COLUMNS if name in expected]
    assert header == [*expected, *flags]
    assert rows, "the store has rows for every command: the JSON keys are checked too"
    data = json.loads(cli(url, *args, "-o", "json"))
    for row in [data] if isinstance(data, dict) else data:
        # Every key is a column (a timeline row has its kind's keys), in any order: the
        # columns' order is the CSV's.
        if expected == columns.TIMELINE_COLUMNS:
            assert set(row) <= set(expected)
        else:
            assert set(row) == set(expected)


def th(client: TestClient, path: str, table: str) -> list[tuple[str, str, str]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    head = parse_html(response.text).find("table", table).find("thead")
    return [
        (h.text, h.attrs.get("class", ""), h.attrs.get("title", "")) for h in head.find_all("th")
    ]


def labels(headers: Sequence[Header]) -> list[tuple[str, str, str]]:
    return [(h.label, h.css, h.title) for h in headers]


@pytest.mark.parametrize(
    ("path", "table", "headers"),
    [
        ("/", "fleet", columns.FLEET_HEADERS),
        ("/overdue?older_than=1m", "overdue", columns.OVERDUE_HEADERS),
        ("/stats?since=7d", "stats", columns.stats_headers("tenant")),
        ("/stats?since=7d&by=pool", "stats", columns.stats_headers("pool")),
    ],
)
def test_the_dashboards_headers_are_presentations(
    dashboard: TestClient, path: str, table: str, headers: tuple[Header, ...]
) -> None:
    assert th(dashboard, path, table) == labels(headers)


def test_the_stats_tables_first_column_is_the_grouping() -> None:
    assert [h.label for h in columns.stats_headers("tenant")][:2] == ["Tenant", "Deploys"]
    assert columns.stats_headers("pool")[0].label == "Pool"


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        (columns.FLEET_HEADERS, columns.STATE_COLUMNS),  # the fleet page and `status`
        (columns.OVERDUE_HEADERS, columns.OVERDUE_COLUMNS),  # the page and `overdue`
        (columns.stats_headers("tenant"), columns.STATS_COLUMNS),  # the page and `stats`
    ],
)
def test_each_dashboard_column_shows_a_key_of_the_same_views_data(
    headers: tuple[Header, ...], data: tuple[str, ...]
) -> None:
    keys = [h.key for h in headers]
    assert set(keys) <= set(data)
    assert len(set(keys)) == len(keys)
