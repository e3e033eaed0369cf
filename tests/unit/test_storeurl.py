"""Store URLs: parsing, settings, and never showing a password."""

from __future__ import annotations

import re
from typing import Any

import pytest

from deployledger import InvalidStoreURL, Ledger
from deployledger.domain.storeurl import DEFAULT_LOCK_TIMEOUT, StoreURL, parse_store_url

PASSWORD = "s3cret" + "pw"  # built, so that no traceback source line shows it whole


def invalid(url: str) -> InvalidStoreURL:
    with pytest.raises(InvalidStoreURL) as info:
        parse_store_url(url)
    return info.value


class TestSQLiteURLs:
    def test_three_slashes_give_a_relative_path(self) -> None:
        parsed = parse_store_url("sqlite:///rel.db")
        assert (parsed.backend, parsed.path, parsed.memory) == ("sqlite", "rel.db", False)
        assert not parsed.is_postgres

    def test_four_slashes_give_an_absolute_path(self) -> None:
        assert parse_store_url("sqlite:////abs/dir/ledger.db").path == "/abs/dir/ledger.db"

    def test_memory_gives_a_private_in_memory_database(self) -> None:
        first = parse_store_url("sqlite:///:memory:")
        second = parse_store_url("sqlite:///:memory:")
        assert first.memory
        assert first.redacted() == "sqlite:///:memory:"
        assert first.path != second.path

    def test_a_lock_timeout_setting_is_read(self) -> None:
        assert parse_store_url("sqlite:///x.db?lock_timeout=0.25").lock_timeout == 0.25

    def test_the_default_lock_timeout_is_bounded(self) -> None:
        assert 0 < parse_store_url("sqlite:///x.db").lock_timeout == DEFAULT_LOCK_TIMEOUT

    @pytest.mark.parametrize(
        "url",
        ["sqlite://host/x.db", "sqlite://", "sqlite:///", "sqlite:///x.db?pool_size=2"],
    )
    def test_malformed_sqlite_urls_are_rejected(self, url: str) -> None:
        invalid(url)


class TestPostgresURLs:
    def test_every_part_and_setting_is_read(self) -> None:
        parsed = parse_store_url("postgresql://user:pw@host:5433/db?lock_timeout=2")
        assert parsed.backend == "postgres"
        assert parsed.is_postgres
        assert (parsed.user, parsed.password, parsed.host, parsed.port, parsed.dbname) == (
            "user",
            "pw",
            "host",
            5433,
            "db",
        )
        assert parsed.lock_timeout == 2.0

    def test_defaults_fill_in_the_port_user_and_lock_timeout(self) -> None:
        parsed = parse_store_url("postgresql://db.internal/ledger")
        assert (parsed.host, parsed.port, parsed.user, parsed.password) == (
            "db.internal",
            5432,
            "postgres",
            "",
        )
        assert 0 < parsed.lock_timeout < float("inf")

    @pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
    def test_the_usual_schemes_are_accepted(self, scheme: str) -> None:
        assert parse_store_url(f"{scheme}://u@h/db").is_postgres

    def test_all_settings_are_read(self) -> None:
        parsed = parse_store_url(
            "postgresql://u@h/db?lock_timeout=1.5&connect_timeout=3&pool_size=7&schema=ops"
        )
        assert (parsed.lock_timeout, parsed.connect_timeout, parsed.pool_size, parsed.schema) == (
            1.5,
            3.0,
            7,
            "ops",
        )

    def test_percent_encoded_credentials_are_decoded(self) -> None:
        parsed = parse_store_url("postgresql://app%40corp:p%40ss%2Fw@h/db")
        assert (parsed.user, parsed.password) == ("app@corp", "p@ss/w")

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://u@h:99999/db",
            "postgresql://u@h:-1/db",
            "postgresql://u@h:abc/db",
            "postgresql://u@h:5432/",
            "postgresql://u@h",
            "postgresql://u@h/db?lock_timeout=abc",
            "postgresql://u@h/db?lock_timeout=0",
            "postgresql://u@h/db?lock_timeout=-2",
            "postgresql://u@h/db?pool_size=1.5",
            "postgresql://u@h/db?pool_size=0",
            "postgresql://u@h/db?connect_timeout=",
            "postgresql://u@h/db?sslmode=require",
            "postgresql://u@h/db?schema=drop table",
            "postgresql://u@h/db?schema=1abc",
        ],
    )
    def test_bad_ports_databases_and_settings_are_rejected(self, url: str) -> None:
        invalid(url)

    def test_port_zero_is_rejected(self) -> None:
        invalid("postgresql://u@h:0/db")

    @pytest.mark.parametrize(
        "setting", ["lock_timeout=nan", "lock_timeout=inf", "connect_timeout=inf"]
    )
    def test_non_finite_timeouts_are_rejected(self, setting: str) -> None:
        invalid(f"postgresql://u@h/db?{setting}")


class TestBadSchemes:
    @pytest.mark.parametrize(
        "url", ["mysql://u@h/db", "http://h/x", "ledger.db", "", "sqlite:ledger.db", "://x"]
    )
    def test_unknown_or_missing_schemes_are_rejected(self, url: str) -> None:
        invalid(url)

    def test_a_url_that_is_not_a_string_is_rejected(self) -> None:
        with pytest.raises(InvalidStoreURL):
            parse_store_url(None)  # type: ignore[arg-type]

    def test_ledger_open_rejects_a_bad_url_before_connecting(self) -> None:
        with pytest.raises(InvalidStoreURL):
            Ledger.open("mysql://u@h/db")

    @pytest.mark.parametrize("setting", [{"lock_timeout": 0}, {"connect_timeout": -1.0}])
    def test_ledger_open_rejects_non_positive_timeouts(self, setting: dict[str, Any]) -> None:
        with pytest.raises(InvalidStoreURL):
            Ledger.open("sqlite:///:memory:", **setting)


class TestSettingsOverrides:
    def test_with_settings_changes_only_given_values(self) -> None:
        parsed = parse_store_url("postgresql://u@h/db?lock_timeout=2")
        changed = parsed.with_settings(lock_timeout=None, connect_timeout=9)
        assert (changed.lock_timeout, changed.connect_timeout) == (2.0, 9)
        assert parsed.connect_timeout != 9

    def test_with_settings_rejects_non_positive_values(self) -> None:
        with pytest.raises(InvalidStoreURL):
            parse_store_url("sqlite:///x.db").with_settings(lock_timeout=0)


URLS_WITH_PASSWORD = [
    f"postgresql://app:{PASSWORD}@db:5433/ledger",
    f"postgresql://app:{PASSWORD}@db/ledger?lock_timeout=2&schema=ops",
    f"postgres://app:{PASSWORD}@[::1]:5432/ledger",
]


class TestPasswordNeverShown:
    @pytest.mark.parametrize("url", URLS_WITH_PASSWORD)
    def test_redacted_masks_the_password(self, url: str) -> None:
        parsed = parse_store_url(url)
        assert parsed.password == PASSWORD
        assert PASSWORD not in parsed.redacted()
        assert ":***@" in parsed.redacted()

    @pytest.mark.parametrize("url", URLS_WITH_PASSWORD)
    def test_repr_and_str_do_not_show_the_password(self, url: str) -> None:
        parsed = parse_store_url(url)
        assert PASSWORD not in repr(parsed)
        assert PASSWORD not in str(parsed)

    def test_redacted_keeps_everything_else(self) -> None:
        parsed = parse_store_url(f"postgresql://app:{PASSWORD}@db:5433/ledger")
        assert parsed.redacted() == "postgresql://app:***@db:5433/ledger"

    def test_a_url_without_a_password_shows_no_mask(self) -> None:
        assert parse_store_url("postgresql://app@db/l").redacted() == "postgresql://app@db:5432/l"

    @pytest.mark.parametrize(
        "url",
        [
            f"postgresql://app:{PASSWORD}@db:99999/ledger",
            f"postgresql://app:{PASSWORD}@db:port/ledger",
            f"postgresql://app@db/ledger?password={PASSWORD}",  # libpq's query form
            f"postgresql://app:{PASSWORD}@db/ledger?lock_timeout=soon",
            f"postgresql://app:{PASSWORD}@db/",
            f"postgresql://app:{PASSWORD}@[db/ledger",
            f"mysql://app:{PASSWORD}@db/ledger",
            f"postgresql://app:{PASSWORD}@db/ledger?schema=bad-name",
        ],
    )
    def test_errors_about_a_url_never_show_its_password(self, url: str) -> None:
        error = invalid(url)
        assert PASSWORD not in str(error)
        assert PASSWORD not in repr(error)
        assert all(PASSWORD not in str(arg) for arg in error.args)

    def test_scrub_removes_the_password_from_any_text(self) -> None:
        parsed = parse_store_url(f"postgresql://app:{PASSWORD}@db/ledger")
        assert parsed.scrub(f"auth failed with {PASSWORD}!") == "auth failed with ***!"

    def test_a_store_url_built_by_hand_hides_its_password_in_repr(self) -> None:
        assert PASSWORD not in repr(StoreURL("postgres", password=PASSWORD, dbname="x"))


class TestMultiHostURLs:
    """libpq's host list: every host tried in turn, `target_session_attrs` passed on."""

    def test_every_host_and_port_is_kept_in_order(self) -> None:
        parsed = parse_store_url(
            "postgresql://app:pw@db-a:5432,db-b:5433,db-c/ledger?target_session_attrs=read-write"
        )
        assert parsed.all_hosts == (("db-a", 5432), ("db-b", 5433), ("db-c", 5432))
        assert (parsed.host, parsed.port) == ("db-a", 5432)
        assert parsed.multi_host
        kwargs = parsed.dsn_kwargs()
        assert (kwargs["host"], kwargs["port"]) == ("db-a,db-b,db-c", "5432,5433,5432")
        assert kwargs["target_session_attrs"] == "read-write"

    def test_the_redacted_form_lists_every_host_and_hides_the_password(self) -> None:
        parsed = parse_store_url(
            "postgresql://app:s3cret@db-a:5432,[::1]:6543/ledger?target_session_attrs=primary"
        )
        shown = parsed.redacted()
        assert shown == (
            "postgresql://app:***@db-a:5432,[::1]:6543/ledger?target_session_attrs=primary"
        )
        assert "s3cret" not in shown

    def test_one_host_keeps_the_single_host_form(self) -> None:
        parsed = parse_store_url("postgresql://app@db:5432/ledger")
        assert not parsed.multi_host
        assert parsed.redacted() == "postgresql://app@db:5432/ledger"
        assert "target_session_attrs" not in parsed.dsn_kwargs()

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("postgresql://a:5432,,b/db", "bad host ''"),
            ("postgresql://a:5432,b:0/db", "between 1 and 65535, got 0"),
            ("postgresql://a,b:99999/db", "got '99999'"),
            ("postgresql://a,b:x/db", "got 'x'"),
            ("postgresql://a,b/db?target_session_attrs=writable", "must be one of any, read-write"),
        ],
    )
    def test_a_malformed_host_list_says_what_is_wrong(self, url: str, says: str) -> None:
        with pytest.raises(InvalidStoreURL, match=re.escape(says)):
            parse_store_url(url)

    def test_with_target_sets_and_checks_the_session_attrs(self) -> None:
        parsed = parse_store_url("postgresql://a,b/db").with_target("prefer-standby")
        assert parsed.dsn_kwargs()["target_session_attrs"] == "prefer-standby"
        with pytest.raises(InvalidStoreURL):
            parsed.with_target("nope")
