"""`token revoke` through the installed entry point, on SQLite and PostgreSQL: by the token
or by its id, "already revoked" the second time, one line for an unknown one. The token is
made, and the outcome read, through the library: a CLI start-up costs about a second."""

from __future__ import annotations

from support import run_cli

from deployledger import Ledger


def new_token(store_url: str) -> str:
    """A token of tenant acme, made through the library on a new store."""
    with Ledger.open(store_url, create=True) as ledger:
        _grant, token = ledger.tokens.create(tenants=["acme"])
    return token


def revoked(store_url: str) -> list[bool]:
    """Whether each token (revoked ones too) is revoked, oldest first."""
    with Ledger.open(store_url) as ledger:
        return [g.revoked_at is not None for g in ledger.tokens.list(include_revoked=True)]


def test_revoke_takes_the_token_or_its_id_and_says_already_revoked(store_url: str) -> None:
    token = new_token(store_url)
    token_id = token.split("_")[1]

    first = run_cli("token", "revoke", token, store=store_url)
    assert first.out.startswith(f"revoked token {token_id} (tenants acme;")
    second = run_cli("token", "revoke", token_id, store=store_url)
    assert second.out.startswith(f"token {token_id} was already revoked at 20")
    third = run_cli("token", "revoke", token, store=store_url)
    assert "already revoked" in third.out
    assert revoked(store_url) == [True]


def test_an_unknown_token_or_id_is_one_line_with_one_hint(store_url: str) -> None:
    token = new_token(store_url)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    unknown = run_cli("token", "revoke", "000000000000", store=store_url, expect=1)
    assert unknown.err == (
        "deployledger: no API token has the id '000000000000' (see `token list`)\n"
    )
    wrong = run_cli("token", "revoke", forged, store=store_url, expect=1)
    assert wrong.err == "deployledger: no API token is the token given (see `token list`)\n"
    assert forged not in wrong.err
    assert revoked(store_url) == [False]
