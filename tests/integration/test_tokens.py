"""API tokens on both backends: only a hash is stored, grants bind tenants and scopes,
revocation takes effect, bad arguments are refused."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from support import engine_for

from deployledger import InvalidQuery, Ledger, TokenGrant, TokenNotFound
from deployledger.service.tokens import Tokens
from deployledger.store.tokens import TokenStore


class PausedFind:
    """A token store whose `find` waits, after reading, until `go` is set."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self.read = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def find(self, token_id: str) -> tuple[TokenGrant, str] | None:
        found = self.store.find(token_id)
        self.read.set()
        self.go.wait(10)
        return found


class TestCreateAndVerify:
    def test_a_token_verifies_to_its_grant_and_only_its_hash_is_stored(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        grant, token = ledger.tokens.create(tenants=["acme", "globex"], scopes=["write"], name="ci")
        assert token.startswith(f"dlt_{grant.token_id}_")
        assert (grant.tenants, grant.admin, grant.scopes, grant.name) == (
            ("acme", "globex"),
            False,
            ("write",),
            "ci",
        )
        assert ledger.tokens.verify(token) == grant
        assert grant.can("write")
        assert not grant.can("read")
        assert grant.sees("acme")
        assert not grant.sees("initech")
        with engine_for(ready_url) as engine, engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(text("SELECT * FROM api_tokens"))]
        assert len(rows) == 1
        assert token not in repr(rows)
        assert token.split("_", 2)[2] not in repr(rows)

    def test_an_admin_token_sees_every_tenant(self, ledger: Ledger) -> None:
        grant, token = ledger.tokens.create(admin=True)
        assert grant.sees("anyone")
        assert grant.scopes == ("read", "write")
        assert ledger.tokens.verify(token) == grant

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "Bearer x",
            "dlt_000000000000_" + "a" * 43,
            "dlt_zz_" + "a" * 43,
        ],
    )
    def test_anything_else_verifies_to_none(self, ledger: Ledger, bad: str) -> None:
        ledger.tokens.create(tenants=["acme"])
        assert ledger.tokens.verify(bad) is None

    def test_a_wrong_secret_for_a_real_id_verifies_to_none(self, ledger: Ledger) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert ledger.tokens.verify(forged) is None
        assert ledger.tokens.verify(token) == grant


class TestListAndRevoke:
    def test_revoked_tokens_stop_verifying_and_leave_the_list(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        first, token = ledger.tokens.create(tenants=["acme"])
        second, _ = ledger.tokens.create(admin=True, name="ops")
        assert [g.token_id for g in ledger.tokens.list()] == [first.token_id, second.token_id]
        assert ledger.tokens.verify(token) == first  # cached now
        revoked = ledger.tokens.revoke(first.token_id)
        assert revoked.revoked_at is not None
        assert ledger.tokens.verify(token) is None  # at once in this process
        assert [g.token_id for g in ledger.tokens.list()] == [second.token_id]
        assert [g.token_id for g in ledger.tokens.list(include_revoked=True)] == [
            first.token_id,
            second.token_id,
        ]
        assert ledger.tokens.revoke(first.token_id).revoked_at == revoked.revoked_at
        with Ledger.open(ready_url) as other:  # another process sees it too
            assert other.tokens.verify(token) is None

    def test_another_process_sees_a_revocation_within_the_cache_time(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        with Ledger.open(ready_url) as opened:
            other = Tokens(TokenStore(opened.url), cache_seconds=0.0)
            try:
                assert other.verify(token) == grant
                ledger.tokens.revoke(grant.token_id)
                assert other.verify(token) is None
            finally:
                other.close()

    def test_the_cache_time_is_how_long_another_process_is_trusted(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        with Ledger.open(ready_url) as cached, Ledger.open(ready_url) as uncached:
            cached.tokens.cache_seconds = 3600
            uncached.tokens.cache_seconds = 0
            assert cached.tokens.verify(token) == uncached.tokens.verify(token) == grant
            ledger.tokens.revoke(grant.token_id)
            assert uncached.tokens.verify(token) is None  # never cached: at once
            assert cached.tokens.verify(token) == grant  # trusted from its cache
            cached.tokens.cache_seconds = 1  # a new setting empties the cache
            assert cached.tokens.verify(token) is None

    def test_a_verification_in_flight_during_a_revocation_is_not_cached(
        self, ledger: Ledger, ready_url: str
    ) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        with Ledger.open(ready_url) as opened:
            paused = PausedFind(TokenStore(opened.url))
            tokens = Tokens(paused, cache_seconds=3600)
            try:
                answers: list[TokenGrant | None] = []
                verifying = threading.Thread(target=lambda: answers.append(tokens.verify(token)))
                verifying.start()
                assert paused.read.wait(10)  # it has read the token, still valid
                tokens.revoke(grant.token_id)
                paused.go.set()
                verifying.join(10)
                assert answers == [grant]  # the request in flight: as it was when it began
                assert tokens.verify(token) is None  # its answer was not kept
            finally:
                paused.go.set()
                tokens.close()

    def test_a_cache_time_out_of_bounds_is_refused(self, ledger: Ledger) -> None:
        for seconds in (-1, 3600.5, True, "5", float("nan")):
            with pytest.raises(InvalidQuery, match="cache_seconds"):
                ledger.tokens.cache_seconds = seconds  # type: ignore[assignment]
        assert ledger.tokens.cache_seconds == 5.0

    def test_revoking_an_unknown_id_says_so(self, ledger: Ledger) -> None:
        with pytest.raises(TokenNotFound, match="token list"):
            ledger.tokens.revoke("000000000000")

    def test_a_token_is_revoked_by_its_id_or_by_the_token_itself(self, ledger: Ledger) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        revoked = ledger.tokens.revoke(token)
        assert (revoked.token_id, ledger.tokens.verify(token)) == (grant.token_id, None)
        assert revoked.revoked_at is not None
        again = ledger.tokens.revoke(grant.token_id)  # twice: the first time is kept
        assert again.revoked_at == revoked.revoked_at
        assert ledger.tokens.revoke(token).revoked_at == revoked.revoked_at

    def test_a_token_with_a_known_id_and_a_wrong_secret_revokes_nothing(
        self, ledger: Ledger
    ) -> None:
        grant, token = ledger.tokens.create(tenants=["acme"])
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        with pytest.raises(TokenNotFound, match="no API token is the token given") as caught:
            ledger.tokens.revoke(forged)
        assert forged not in str(caught.value)
        assert ledger.tokens.verify(token) == grant


class TestBadArguments:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "at least one tenant"),
            ({"tenants": ["acme"], "admin": True}, "not both"),
            ({"tenants": ["acme"], "scopes": ["delete"]}, "scopes must be among"),
            ({"tenants": ["acme"], "scopes": []}, "scopes must be among"),
            ({"tenants": [" acme"]}, "tenant"),
            ({"tenants": ["a\x00"]}, "tenant"),
            ({"tenants": ["acme"], "name": ""}, "name"),
        ],
    )
    def test_a_bad_grant_is_refused_and_nothing_stored(
        self, ledger: Ledger, kwargs: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidQuery, match=message):
            ledger.tokens.create(**kwargs)  # type: ignore[arg-type]
        assert ledger.tokens.list(include_revoked=True) == []


def test_a_grant_in_json() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 11, 30, tzinfo=UTC)
    grant = TokenGrant("abc", None, ("acme",), False, ("read",), at, at + timedelta(days=1))
    assert grant.to_json() == {
        "tokenId": "abc",
        "name": None,
        "tenants": ["acme"],
        "admin": False,
        "scopes": ["read"],
        "createdAt": "2026-11-30T00:00:00+00:00",
        "revokedAt": "2026-12-01T00:00:00+00:00",
    }
