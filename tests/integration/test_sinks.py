"""Notification sinks on both backends: settings, cursors, delivery, dead letters, retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sink_receivers import Receiver, receiving
from support import report, request, undeploy

from deployledger import InvalidQuery, Ledger
from deployledger.presentation.sinks import outgoing

pytestmark = pytest.mark.timeout(60)


def _record(ledger: Ledger, *messages: dict[str, Any]) -> list[int]:
    """Record `messages`, bring the read model up to date; their positions."""
    positions = [ledger.record(message).position for message in messages]
    ledger.catch_up()
    return positions


class TestSettings:
    def test_a_sink_is_kept_with_its_settings_and_never_shows_its_secret(
        self, ledger: Ledger
    ) -> None:
        made = ledger.sinks.add(
            "hook",
            url="https://hooks.example/x",
            kind="webhook",
            secret="s3cret-value",
            filter="tenant=t1,state=error",
        )
        assert "s3cret-value" not in repr(made)
        (found,) = ledger.sinks.list()
        assert found.name == "hook"
        assert found.has_secret
        assert found.filter.tenant == ("t1",)
        assert found.filter.state == ("error",)
        assert "s3cret-value" not in str(found.to_json())
        assert found.to_json()["hasSecret"]
        ledger.sinks.remove("hook")
        assert ledger.sinks.list() == []

    @pytest.mark.parametrize(
        ("changes", "says"),
        [
            ({"url": "ftp://x"}, "http:// or https://"),
            ({"url": "not a url"}, "http:// or https://"),
            ({"kind": "email"}, "unknown sink kind"),
            ({"filter": "colour=red"}, "unknown key"),
            ({"filter": "state=sad"}, "state 'sad'"),
            ({"spec": "0.3.0"}, "not supported"),
            ({"name": "bad name"}, "sink name"),
            ({"max_attempts": 0}, "max attempts"),
            ({"from_position": -1}, "must not be negative"),
        ],
    )
    def test_bad_settings_are_refused_and_nothing_is_stored(
        self, ledger: Ledger, changes: dict[str, Any], says: str
    ) -> None:
        settings: dict[str, Any] = {"url": "http://127.0.0.1:9/x", "kind": "webhook"}
        settings.update(changes)
        name = settings.pop("name", "ok")
        with pytest.raises(InvalidQuery, match=says):
            ledger.sinks.add(name, **settings)
        assert ledger.sinks.list() == []

    def test_a_second_sink_of_the_same_name_is_refused(self, ledger: Ledger) -> None:
        ledger.sinks.add("one", url="http://127.0.0.1:9/", kind="grafana")
        with pytest.raises(InvalidQuery, match="exists"):
            ledger.sinks.add("one", url="http://127.0.0.1:9/", kind="webhook")

    def test_a_new_sink_starts_from_now_unless_given_a_position(self, ledger: Ledger) -> None:
        last = _record(ledger, report(), report())[-1]
        assert ledger.sinks.add("now", url="http://h/", kind="webhook").position == last
        assert (
            ledger.sinks.add("all", url="http://h/", kind="webhook", from_position=1).position == 0
        )
        assert ledger.sinks.get("now").lag_events == 0
        assert ledger.sinks.get("all").lag_events == last

    def test_unknown_sinks_are_named_in_the_error(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidQuery, match="no sink is named 'gone'"):
            ledger.sinks.remove("gone")
        with pytest.raises(InvalidQuery, match="no sink is named 'gone'"):
            ledger.sinks.retry("gone")


class TestDelivery:
    def test_each_kind_receives_every_matching_event_in_order_with_its_position_as_id(
        self, ledger: Ledger
    ) -> None:
        with receiving(Receiver(), Receiver(), Receiver()) as (ce, hook, grafana):
            ledger.sinks.add("ce", url=ce.url + "/events", kind="cdevents", from_position=1)
            ledger.sinks.add(
                "hook", url=hook.url + "/h", kind="webhook", secret="k", from_position=1
            )
            ledger.sinks.add("gr", url=grafana.url, kind="grafana", secret="key", from_position=1)
            _, ok, failed_at, again, gone, back = _record(
                ledger,
                request(),
                report(),  # first success: deployed
                report(success=False, message="Error: UPGRADE FAILED: timed out"),
                report(),  # upgraded
                undeploy(),  # removed
                report(),  # deployed again
            )
            ledger.sinks.deliver(outgoing)
            types = [b["type"].split(".")[3] for b in ce.bodies()]
            assert types == ["deployed", "upgraded", "removed", "deployed"]
            assert ce.ids() == [ok, again, gone, back]
            assert hook.ids() == [ok, failed_at, again, gone, back]
            assert grafana.ids() == [ok, failed_at, again, gone, back]
            failed = hook.bodies()[1]
            assert failed["category"]
            assert failed["fingerprint"]
            assert failed["headline"] == "Error: UPGRADE FAILED: timed out"
            assert {r.path for r in grafana.received} == {"/api/annotations"}
            assert grafana.received[0].headers["Authorization"] == "Bearer key"
            assert hook.received[0].headers["X-Deployledger-Signature"].startswith("sha256=")
        status = {s.name: s for s in ledger.sinks.list()}
        assert status["hook"].position == back
        assert status["hook"].delivered == 5
        assert status["ce"].delivered == 4
        assert status["ce"].lag_events == 0

    def test_a_filter_sends_only_matching_events(self, ledger: Ledger) -> None:
        with receiving(Receiver()) as (hook,):
            ledger.sinks.add("errors", url=hook.url, kind="webhook", filter="state=error")
            _, failed, _ = _record(
                ledger, report(), report(success=False, message="boom"), report(tenant="t2")
            )
            ledger.sinks.deliver(outgoing)
            assert hook.ids() == [failed]

    def test_a_sink_that_stays_down_dead_letters_and_retry_sends_them_later(
        self, ledger: Ledger
    ) -> None:
        with receiving(Receiver(down=True)) as (hook,):
            ledger.sinks.add("hook", url=hook.url, kind="webhook", max_attempts=2, backoff=0.01)
            sent = _record(ledger, report(), report(rtid="64f1c0ffee0000000000bee2"))
            # A run (`sink deliver --once`) never sleeps through a backoff: a retry that is
            # not due yet is a later run's; the second failure of each makes a dead letter.
            runs = 0
            while ledger.sinks.get("hook").dead_letters < 2 and runs < 20:
                ledger.sinks.deliver(outgoing)
                runs += 1
                time.sleep(0.05)
            assert runs <= 3  # at most: fail 1; fail 1 again (dead), 2; fail 2 again (dead)
            found = ledger.sinks.get("hook")
            assert (found.dead_letters, found.position, found.delivered) == (2, sent[-1], 0)
            assert [d.position for d in ledger.sinks.dead_letters("hook")] == sent
            assert "HTTP 500" in ledger.sinks.dead_letters("hook")[0].error
            hook.down = False
            assert ledger.sinks.retry("hook") == 2
            ledger.sinks.deliver(outgoing)
            assert hook.ids() == sent
            assert ledger.sinks.dead_letters() == []
            assert ledger.sinks.get("hook").delivered == 2

    def test_a_restarted_worker_continues_from_the_stored_cursor(self, ledger: Ledger) -> None:
        with receiving(Receiver()) as (hook,):
            ledger.sinks.add("hook", url=hook.url, kind="webhook")
            sent = _record(ledger, report(), report())
            ledger.sinks.deliver(outgoing)
            sent += _record(ledger, report())
            ledger.sinks.deliver(outgoing)  # another run: only the new event
            assert hook.ids() == sent

    def test_run_delivers_in_a_thread_of_its_own_until_stopped(self, ledger: Ledger) -> None:
        with receiving(Receiver()) as (hook,):
            ledger.sinks.add("hook", url=hook.url, kind="webhook")
            stop = threading.Event()
            runner = threading.Thread(
                target=ledger.sinks.run, args=(stop, outgoing), kwargs={"poll_interval": 0.05}
            )
            runner.start()
            try:
                sent = _record(ledger, report(), undeploy())
                for _ in range(200):
                    if len(hook.ids()) == 2:
                        break
                    stop.wait(0.02)
            finally:
                stop.set()
                runner.join(timeout=10)
            assert hook.ids() == sent
            assert not runner.is_alive()


def test_one_process_delivers_for_a_sink_and_another_takes_over(ready_url: str) -> None:
    with (
        receiving(Receiver()) as (hook,),
        Ledger.open(ready_url) as first,
        Ledger.open(ready_url) as second,
    ):
        first.sinks.add("hook", url=hook.url, kind="webhook")
        stops = [threading.Event(), threading.Event()]
        runners = [
            threading.Thread(
                target=ledger.sinks.run, args=(stop, outgoing), kwargs={"poll_interval": 0.05}
            )
            for ledger, stop in zip((first, second), stops, strict=True)
        ]
        for runner in runners:
            runner.start()
        try:
            sent = _record(first, *[report(message=str(i)) for i in range(30)])
            _wait_for(lambda: len(hook.ids()) >= len(sent))
            stops[0].set()  # the leader (whichever it is) or the standby goes away
            runners[0].join(timeout=10)
            sent += _record(first, *[report(message=str(i)) for i in range(30, 40)])
            _wait_for(lambda: len(hook.ids()) >= len(sent))
        finally:
            for stop in stops:
                stop.set()
            for runner in runners:
                runner.join(timeout=10)
        assert hook.ids() == sent  # each once, in order: never two deliverers at a time


def _wait_for(done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
