"""The HTTP service's pure parts (durations and times: `test_arguments`): settings through
the environment, the lag clock, Idempotency-Key parsing, the kind of a message for the
metrics, the merged audit cursor, and the bearer token of a request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from deployledger.http import fleet
from deployledger.http.api.reports import idempotency_key, kind_guess, with_key
from deployledger.http.auth import token_of
from deployledger.http.metrics import LagClock
from deployledger.http.problems import HTTPProblem
from deployledger.http.settings import ServeSettings, is_loopback

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_settings_travel_through_the_environment() -> None:
    settings = ServeSettings(
        store="postgresql://app@db/ledger",
        read_model="sqlite:///rm.db",
        auth=False,
        host="::1",
        max_body_bytes=1024,
        body_timeout=2.5,
        ready_max_lag_events=7,
        follow=False,
        read_store="postgresql://app@db-replica/ledger",
        read_wait=0.25,
        token_cache=0.5,
    )
    env = settings.to_env()
    assert env["DEPLOYLEDGER_SERVE_READ_STORE"] == "postgresql://app@db-replica/ledger"
    assert env["DEPLOYLEDGER_SERVE_STORE"] == "postgresql://app@db/ledger"
    assert env["DEPLOYLEDGER_SERVE_AUTH"] == "0"
    assert ServeSettings.from_env(env) == settings
    assert ServeSettings.from_env({"DEPLOYLEDGER_SERVE_STORE": "sqlite:///x.db"}) == ServeSettings(
        store="sqlite:///x.db"
    )
    with pytest.raises(ValueError, match="deployledger serve"):
        ServeSettings.from_env({})


def test_the_read_wait_is_bounded() -> None:
    for wait in (-0.1, 3600.5):
        with pytest.raises(ValueError, match="read_wait"):
            ServeSettings(store="sqlite:///x.db", read_wait=wait)


def test_the_token_cache_is_bounded() -> None:
    assert ServeSettings(store="sqlite:///x.db").token_cache == 5.0
    ServeSettings(store="sqlite:///x.db", token_cache=0)
    for seconds in (-0.1, 3600.5):
        with pytest.raises(ValueError, match="token_cache"):
            ServeSettings(store="sqlite:///x.db", token_cache=seconds)


def test_no_auth_needs_a_loopback_host() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
        ServeSettings(store="sqlite:///x.db", auth=False, host=host)
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""):
        assert not is_loopback(host), host
        with pytest.raises(ValueError, match="loopback"):
            ServeSettings(store="sqlite:///x.db", auth=False, host=host)
    ServeSettings(store="sqlite:///x.db", auth=True, host="0.0.0.0")
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServeSettings(store="sqlite:///x.db", max_body_bytes=0)


def test_the_lag_clock_ages_the_oldest_unapplied_event() -> None:
    clock = LagClock()
    assert clock.lag_seconds(0, now=100.0) == 0.0
    clock.saw(5, at=10.0)
    clock.saw(5, at=11.0)  # nothing new
    clock.saw(9, at=12.0)
    assert clock.lag_seconds(0, now=20.0) == 10.0
    assert clock.lag_seconds(5, now=20.0) == 8.0  # events 1-5 applied: 6-9 seen at 12
    assert clock.lag_seconds(9, now=20.0) == 0.0
    clock.saw(12, at=30.0)
    clock.saw(14, at=30.05)  # within the resolution: counted from 30.0
    assert clock.lag_seconds(12, now=31.0) == 1.0
    assert clock.lag_seconds(14, now=31.0) == 0.0


def test_the_idempotency_key_is_a_token_or_a_structured_string() -> None:
    assert idempotency_key(None) is None
    assert idempotency_key("abc-1") == "abc-1"
    assert idempotency_key('"8e03978e-40d5-43e8-bc93-6894a57f9324"') == (
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )
    assert idempotency_key('"a \\"b\\""') == 'a "b"'
    for bad in ("", "  ", '""', "x" * 257, "tab\there"):
        with pytest.raises(HTTPProblem) as caught:
            idempotency_key(bad)
        assert caught.value.status == 422


def test_the_key_becomes_the_messageid_unless_another_is_given() -> None:
    assert with_key({"tenantId": "t"}, "k") == {"tenantId": "t", "messageId": "k"}
    assert with_key({"MessageId": None}, "k") == {"messageId": "k"}
    assert with_key({"message_id": "k"}, "k") == {"messageId": "k"}
    with pytest.raises(HTTPProblem):
        with_key({"messageId": "other"}, "k")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"kind": "Request"}, "request"),
        ({"KIND": " undeploy "}, "undeploy"),
        ({"kind": "nonsense"}, "unknown"),
        ({"kind": 3}, "unknown"),
        ({"success": True}, "outcome"),
        ({"Success": "x"}, "outcome"),
        ({"message": "m"}, "unknown"),
        ([1], "unknown"),
        (None, "unknown"),
    ],
)
def test_the_kind_counted_for_a_message(message: object, kind: str) -> None:
    assert kind_guess(message) == kind


def test_a_merged_cursor_round_trips_and_refuses_garbage() -> None:
    states = {"acme": "cDoz", "globex": None, "initech": ""}
    cursor = fleet._encode(states)
    assert cursor.startswith("m.")
    assert fleet._decode(cursor, ["acme", "globex", "initech"]) == states
    assert fleet._decode(cursor, ["acme", "other"]) == {"acme": "cDoz", "other": None}
    for bad in ("m.!!", "m." + "e30"[:-1], "m.WzFd", "m.eyJhIjogMX0"):
        with pytest.raises(ValueError, match="invalid cursor"):
            fleet._decode(bad, ["a"])


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_the_token_comes_from_the_bearer_header_or_the_cookie() -> None:
    assert token_of(request_with({})) is None
    assert token_of(request_with({"Authorization": "Bearer  abc "})) == "abc"
    assert token_of(request_with({"Authorization": "bearer abc"})) == "abc"
    assert token_of(request_with({"Authorization": "Basic abc"})) == ""
    assert token_of(request_with({"Authorization": "Bearer"})) == ""
    assert token_of(request_with({"Cookie": "deployledger_token=xyz"})) == "xyz"
    both = {"Authorization": "Bearer abc", "Cookie": "deployledger_token=xyz"}
    assert token_of(request_with(both)) == "abc"
