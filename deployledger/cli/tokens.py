"""`token create|list|revoke|secret`: the API tokens of `deployledger serve`.

A token is bound to tenants (or, with `--admin`, to all of them) and to scopes (`read`,
`write`). `create` prints the token once; only its hash is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO

import click

from deployledger import TokenGrant
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, pass_settings

SCOPES = ("read", "write")


@cli.group(
    epilog=output.examples(
        "deployledger token create --tenant acme-prod --scope write",
        "deployledger token list",
        "deployledger token revoke 3f9a0c1d2e4b",
    )
)
def token() -> None:
    """Create, list and revoke the tokens of the HTTP service; set their HMAC secret."""


@token.command(
    epilog=output.examples(
        "deployledger token create --tenant acme-prod --scope write --name operator-eu",
        "deployledger token create --tenant acme-prod --tenant acme-staging --scope read",
        "deployledger token create --admin --name ops",
    )
)
@click.option("--tenant", "tenants", multiple=True, metavar="T", help="A tenant (repeatable).")
@click.option("--admin", is_flag=True, help="Every tenant, now and later.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="read or write (repeatable; default: both).",
)
@click.option("--name", metavar="NAME", help="What the token is for.")
@output.option()
@pass_settings
def create(
    settings: Settings,
    tenants: tuple[str, ...],
    admin: bool,
    scopes: tuple[str, ...],
    name: str | None,
    fmt: str,
) -> None:
    """Create a token and print it (once: only its hash is stored)."""
    if not tenants and not admin:
        raise click.UsageError("give --tenant T (one or more), or --admin for every tenant")
    if tenants and admin:
        raise click.UsageError("--admin already covers every tenant: drop --tenant")
    with settings.ledger(create=None) as ledger:
        grant, secret = ledger.tokens.create(
            tenants=tuple(dict.fromkeys(tenants)),
            admin=admin,
            scopes=tuple(dict.fromkeys(scopes)) or SCOPES,
            name=name,
        )
    if fmt == "table":
        click.echo(secret)
        click.echo(
            f"created token {grant.token_id} ({_grant_text(grant)}); it is shown only "
            "this once: store it now",
            err=True,
        )
    else:
        output.write_data([{"token": secret, **grant.to_json()}], fmt, _columns(), single=True)


@token.command(name="list", epilog=output.examples("deployledger token list --all -o json"))
@click.option("--all", "include_revoked", is_flag=True, help="Revoked tokens too.")
@output.option()
@output.tz_option()
@pass_settings
def list_tokens(settings: Settings, include_revoked: bool, fmt: str, zone: tzinfo) -> None:
    """The tokens (never the secrets): id, name, tenants, scopes, when created, revoked."""
    with settings.ledger(create=None) as ledger:
        grants = ledger.tokens.list(include_revoked=include_revoked)
    if fmt != "table":
        output.write_data([g.to_json() for g in grants], fmt, _columns()[1:])
    elif grants:
        output.write_table(token_table(grants, zone))
    else:
        click.echo("no tokens", err=True)


@token.command(
    epilog=output.examples(
        "deployledger token revoke 3f9a0c1d2e4b", 'deployledger token revoke "$TOKEN"'
    )
)
@click.argument("token_id", metavar="TOKEN_OR_ID")
@pass_settings
def revoke(settings: Settings, token_id: str) -> None:
    """Revoke a token, given by its id (`token list`) or as the token itself: requests with
    it answer 401 from now on. A token already revoked stays so, and is said to be."""
    started = datetime.now(UTC)
    with settings.ledger(create=None) as ledger:
        grant = ledger.tokens.revoke(token_id)  # TokenNotFound: one line, exit 1
    if grant.revoked_at is not None and grant.revoked_at < started:
        at = render.when(grant.revoked_at)
        click.echo(f"token {grant.token_id} was already revoked at {at} ({_grant_text(grant)})")
    else:
        click.echo(f"revoked token {grant.token_id} ({_grant_text(grant)})")


@token.command(
    epilog=output.examples(
        "deployledger token secret 3f9a0c1d2e4b --generate",
        "deployledger token secret 3f9a0c1d2e4b --from-file flux-hmac.txt",
        "deployledger token secret 3f9a0c1d2e4b --clear",
    )
)
@click.argument("token_id", metavar="TOKEN_OR_ID")
@click.option("--generate", is_flag=True, help="Make a random secret and print it (once).")
@click.option(
    "--from-file",
    "source",
    type=click.File("r", encoding="utf-8"),
    metavar="PATH",
    help="Read the secret from a file (- for stdin); one line, surrounding space dropped.",
)
@click.option("--clear", is_flag=True, help="Remove the secret: signed intake is off.")
@pass_settings
def secret(
    settings: Settings,
    token_id: str,
    generate: bool,
    source: TextIO | None,
    clear: bool,
) -> None:
    """Set the HMAC secret of a token's signed intake (Flux `generic-hmac`; the same value
    as the `token` key of the Provider's secret). With a secret set, every Flux event sent
    with this token must carry a valid X-Signature (401 otherwise). Never shown again."""
    if sum((generate, source is not None, clear)) != 1:
        raise click.UsageError("give one of --generate, --from-file PATH or --clear")
    value: str | None = None
    if generate:
        value = secrets.token_urlsafe(32)
    elif source is not None:
        value = source.read().strip()
    with settings.ledger(create=None) as ledger:
        grant = ledger.tokens.set_hmac_secret(token_id, value)
    if generate:
        click.echo(value)
    done = "cleared the HMAC secret of" if clear else "set the HMAC secret of"
    click.echo(f"{done} token {grant.token_id} ({_grant_text(grant)})", err=generate)


def _grant_text(grant: TokenGrant) -> str:
    who = "every tenant (admin)" if grant.admin else "tenants " + ", ".join(grant.tenants)
    name = f"{grant.name}: " if grant.name else ""
    return render.one_line(f"{name}{who}; scopes {', '.join(grant.scopes)}")


def _columns() -> list[str]:
    return ["token", "tokenId", "name", "tenants", "admin", "scopes", "createdAt", "revokedAt"]


def token_table(grants: Sequence[TokenGrant], zone: tzinfo = UTC) -> str:
    headers = ["TOKEN ID", "NAME", "TENANTS", "SCOPES", "CREATED", "REVOKED"]
    rows: list[list[Any]] = [
        [
            render.one_line(g.token_id),
            render.one_line(g.name or "-"),
            "* (admin)" if g.admin else render.one_line(", ".join(g.tenants)),
            ", ".join(g.scopes),
            render.when(g.created_at, zone),
            render.when(g.revoked_at, zone),
        ]
        for g in grants
    ]
    return render.table(headers, rows, right=set())
