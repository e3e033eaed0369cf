"""`token revoke` on SQLite and PostgreSQL: by the token or by its id, "already revoked"
the second time, one line for an unknown one. The commands run in this process (`cli`:
the same `main` the installed script calls, with its exit code, stdout and stderr; a CLI
start-up costs about a second), on a store with the schema already (`migrated_url`). The
token is made, and the outcome read, through the library."""

from __future__ import annotations

from support import Cli

from deployledger import Ledger


def new_token(store_url: str) -> str:
    """A token of tenant acme, made through the library."""
    with Ledger.open(store_url) as ledger:
        _grant, token = ledger.tokens.create(tenants=["acme"])
    return token


def revoked(store_url: str) -> list[bool]:
    """Whether each token (revoked ones too) is revoked, oldest first."""
    with Ledger.open(store_url) as ledger:
        return [g.revoked_at is not None for g in ledger.tokens.list(include_revoked=True)]


def test_revoke_takes_the_token_or_its_id_and_says_already_revoked(
    migrated_url: str, cli: Cli
) -> None:
    token = new_token(migrated_url)
    token_id = token.split("_")[1]

    first = cli("token", "revoke", token, store=migrated_url)
    assert first.out.startswith(f"revoked token {token_id} (tenants acme;")
    second = cli("token", "revoke", token_id, store=migrated_url)
    assert second.out.startswith(f"token {token_id} was already revoked at 20")
    third = cli("token", "revoke", token, store=migrated_url)
    assert "already revoked" in third.out
    assert revoked(migrated_url) == [True]


def test_an_unknown_token_or_id_is_one_line_with_one_hint(migrated_url: str, cli: Cli) -> None:
    token = new_token(migrated_url)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    unknown = cli("token", "revoke", "000000000000", store=migrated_url, expect=1)
    assert unknown.err == (
        "deployledger: no API token has the id '000000000000' (see `token list`)\n"
    )
    wrong = cli("token", "revoke", forged, store=migrated_url, expect=1)
    assert wrong.err == "deployledger: no API token is the token given (see `token list`)\n"
    assert forged not in wrong.err
    assert revoked(migrated_url) == [False]
