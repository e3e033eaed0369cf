"""`deployledger sink ...` as a user drives it, and the sinks' gauges in /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sink_receivers import Receiver, receiving
from support import report, run_in_process

from deployledger import Ledger
from deployledger.http import ServeSettings, create_app

pytestmark = pytest.mark.timeout(60)
SECRET = "hunter" + "2-sink"  # built, so that no traceback source line shows it whole


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, create=True):
        pass
    return url


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--url", "ftp://x", "--kind", "webhook"], "must be an http:// or https:// URL"),
        (["--url", "http://h/", "--kind", "email"], "Invalid value for '--kind'"),
        (["--url", "http://h/", "--kind", "webhook", "--filter", "x=1"], "bad filter"),
        (["--url", "http://h/", "--kind", "cdevents", "--spec", "9"], "not supported"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_is_stored(
    sqlite_store: str, args: list[str], says: str
) -> None:
    result = run_in_process("sink", "add", "s1", *args, store=sqlite_store, expect=2)
    assert says in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    listed = run_in_process("sink", "list", "-o", "json", store=sqlite_store)
    assert listed.json() == []


def test_add_list_status_retry_remove_and_the_secret_is_never_printed(sqlite_store: str) -> None:
    with receiving(Receiver(down=True)) as (down,):
        added = run_in_process(
            "sink",
            "add",
            "hook",
            "--url",
            down.url,
            "--kind",
            "webhook",
            "--secret",
            SECRET,
            "--max-attempts",
            "1",
            "--from-position",
            "1",
            store=sqlite_store,
        )
        assert "added sink hook" in added.out
        run_in_process(
            "record",
            "-",
            stdin='{"tenantId":"t1","workloadRtId":"r1",'
            '"workloadName":"w","success":false,"statusMessage":"boom"}',
            store=sqlite_store,
        )
        run_in_process("sink", "deliver", "--once", store=sqlite_store)
        outputs = [
            run_in_process("sink", "list", store=sqlite_store),
            run_in_process("sink", "list", "-o", "json", store=sqlite_store),
            run_in_process("sink", "status", store=sqlite_store),
            run_in_process("sink", "status", "hook", "-o", "json", store=sqlite_store),
        ]
        for result in outputs:
            assert SECRET not in result.out + result.err
        (row,) = outputs[3].json()
        assert row["hasSecret"] is True
        assert row["deadLetters"] == 1
        assert row["deadLetterList"][0]["error"].startswith("HTTP 500")
        table = run_in_process("sink", "status", "hook", store=sqlite_store).out
        assert "DEAD" in table
        assert "HTTP 500" in table
        retried = run_in_process("sink", "retry", "hook", store=sqlite_store)
        assert "1 dead letter(s)" in retried.out
        run_in_process("sink", "remove", "hook", store=sqlite_store)
        gone = run_in_process("sink", "remove", "hook", store=sqlite_store, expect=2)
        assert "no sink is named 'hook'" in gone.err


def test_metrics_show_each_sink_s_lag_and_dead_letters(sqlite_store: str) -> None:
    with Ledger.open(sqlite_store) as ledger:
        ledger.sinks.add("hook", url="http://127.0.0.1:9/", kind="webhook", from_position=1)
        ledger.record(report())
    app = create_app(ServeSettings(store=sqlite_store, follow=False))
    with TestClient(app) as client:
        text = client.get("/metrics").text
    found = {
        (s.name, tuple(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("deployledger_sink_lag_events", (("sink", "hook"),))] == 2
    assert found[("deployledger_sink_dead_letters", (("sink", "hook"),))] == 0


def test_serve_s_background_follower_delivers_to_the_sinks(sqlite_store: str) -> None:
    with receiving(Receiver()) as (hook,):
        with Ledger.open(sqlite_store) as ledger:
            ledger.sinks.add("hook", url=hook.url, kind="webhook")
        app = create_app(ServeSettings(store=sqlite_store, follow=True, poll_interval=0.05))
        with TestClient(app), Ledger.open(sqlite_store) as ledger:
            position = ledger.record(report()).position
            deadline = time.monotonic() + 20
            while hook.ids() != [position]:
                assert time.monotonic() < deadline, hook.ids()
                time.sleep(0.02)
