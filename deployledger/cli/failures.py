"""`failures`: what is breaking deploys, grouped by fingerprint; `reclassify`: apply the
current failure rules to the stored failures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import click

from deployledger import FAILURE_CATEGORIES as CATEGORIES
from deployledger import FailureGroup
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, min_position_option, pass_settings
from deployledger.cli.audit import Limit, parse_when
from deployledger.presentation import FAILURE_COLUMNS


@cli.command(
    epilog=output.examples(
        "deployledger failures --since 24h",
        "deployledger failures --tenant acme-prod --category wait-timeout",
        "deployledger audit --fingerprint F   # every attempt of one group",
    )
)
@click.option(
    "--since",
    metavar="WHEN",
    default="24h",
    show_default=True,
    help="From this time: ISO-8601, or 90m, 24h, 7d ago (the last 24 hours unless given; "
    "--since 1970-01-01 for every failure kept).",
)
@click.option("--tenant", metavar="T", help="Only this tenant.")
@click.option("--pool", metavar="P", help="Only this pool.")
@click.option(
    "--category",
    metavar="C",
    type=click.Choice(CATEGORIES, case_sensitive=False),
    help="Only this failure category: " + ", ".join(CATEGORIES) + ".",
)
@click.option(
    "--limit",
    type=Limit(1, 10_000),
    default=50,
    show_default=True,
    metavar="N",
    help="At most N groups, the largest.",
)
@output.option()
@output.tz_option()
@min_position_option()
@pass_settings
def failures(
    settings: Settings,
    since: str,
    tenant: str | None,
    pool: str | None,
    category: str | None,
    limit: int,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Failed outcomes of the last 24 hours (or --since) grouped by fingerprint (the message
    with names, ids, numbers and times masked), largest group first: one problem, however
    many workloads it hit.
    STILL counts the group's workloads whose latest outcome is this failure (state Error);
    the table shows the template's cause, -o json|jsonl|csv the whole template and the full
    example message of each group."""
    now = datetime.now(UTC)
    with settings.reader() as ledger:
        groups = ledger.failures(
            since=parse_when(since, now, "--since"),
            tenant_id=tenant,
            pool=pool,
            category=category,
            limit=limit,
        )
    if fmt != "table":
        output.write_data([g.to_json() for g in groups], fmt, FAILURE_COLUMNS)
    elif groups:
        output.write_table(failures_table(groups, zone))
    else:
        click.echo(f"no failed attempts match since {since}", err=True)


def failures_table(groups: Sequence[FailureGroup], zone: tzinfo = UTC) -> str:
    headers = ["FINGERPRINT", "CATEGORY", "ATTEMPTS", "WORKLOADS", "STILL", "TENANTS", "POOLS"]
    headers += ["FIRST SEEN", "LAST SEEN", "TEMPLATE"]
    table = [
        [
            g.fingerprint,
            g.category,
            str(g.attempts),
            str(g.workloads),
            str(g.still_failing),
            _names(g.tenants),
            _names(g.pools),
            render.when(g.first_seen, zone),
            render.when(g.last_seen, zone),
            render.summary(_cause(g.template), width=90),
        ]
        for g in groups
    ]
    return render.table(headers, table, right={2, 3, 4})


def _cause(template: str) -> str:
    """The template without the operator's wrapper (`helm ... failed with exit code <n>.
    stderr: `) and helm's `Error: `: the cause is what a table has room for."""
    _, found, rest = template.partition(" stderr: ")
    return (rest if found else template).removeprefix("Error: ")


def _names(names: Sequence[str], most: int = 3) -> str:
    if not names:
        return "-"
    shown = ",".join(render.one_line(n) for n in names[:most])
    return shown + (f" +{len(names) - most}" if len(names) > most else "")


@cli.command(epilog=output.examples("deployledger reclassify", "deployledger reclassify --force"))
@click.option("--force", is_flag=True, help="Re-derive even if the recorded version is current.")
@pass_settings
def reclassify(settings: Settings, force: bool) -> None:
    """Apply this release's failure rules to the stored failed attempts: rewrite only their
    category and fingerprint, when the rules version recorded in the store differs."""
    with settings.ledger() as ledger:
        result = ledger.reclassify(force=force)
    if result.examined == 0:
        click.echo(f"failure rules version {result.version} already applied; nothing to do")
        return
    before = "none" if result.previous_version is None else str(result.previous_version)
    click.echo(
        f"reclassified with failure rules version {result.version} (was {before}): "
        f"{result.changed} of {result.examined} failed attempts changed"
    )
