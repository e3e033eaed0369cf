"""`token revoke` through the installed entry point, on SQLite and PostgreSQL: by the token
or by its id, "already revoked" the second time, one line for an unknown one."""

from __future__ import annotations

from support import run_cli


def test_revoke_takes_the_token_or_its_id_and_says_already_revoked(store_url: str) -> None:
    run_cli("migrate", store=store_url)
    token = run_cli("token", "create", "--tenant", "acme", store=store_url).out.strip()
    token_id = token.split("_")[1]

    first = run_cli("token", "revoke", token, store=store_url)
    assert first.out.startswith(f"revoked token {token_id} (tenants acme;")
    second = run_cli("token", "revoke", token_id, store=store_url)
    assert second.out.startswith(f"token {token_id} was already revoked at 20")
    third = run_cli("token", "revoke", token, store=store_url)
    assert "already revoked" in third.out
    listed = run_cli("token", "list", "--all", "--json", store=store_url).json()
    assert [t["revokedAt"] is not None for t in listed] == [True]


def test_an_unknown_token_or_id_is_one_line_with_one_hint(store_url: str) -> None:
    run_cli("migrate", store=store_url)
    token = run_cli("token", "create", "--tenant", "acme", store=store_url).out.strip()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    unknown = run_cli("token", "revoke", "000000000000", store=store_url, expect=1)
    assert unknown.err == (
        "deployledger: no API token has the id '000000000000' (see `token list`)\n"
    )
    wrong = run_cli("token", "revoke", forged, store=store_url, expect=1)
    assert wrong.err == "deployledger: no API token is the token given (see `token list`)\n"
    assert forged not in wrong.err
    assert run_cli("token", "list", "--json", store=store_url).json()[0]["revokedAt"] is None
