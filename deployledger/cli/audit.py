"""`audit`: attempts across the fleet, as a table or as exact data (json, jsonl, csv)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

import click

from deployledger import FAILURE_CATEGORIES as CATEGORIES
from deployledger import AuditFilter, InvalidQuery, check_limit
from deployledger import parse_when as parse_time
from deployledger.cli import export, output, render
from deployledger.cli.app import Settings, cli, min_position_option, pass_settings
from deployledger.presentation import AUDIT_COLUMNS


class Limit(click.IntRange):
    """`--limit`: an integer the library's own rule accepts (`deployledger.check_limit`),
    refused with its message; the help shows the range."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        try:
            return check_limit(number, lowest=self.min or 1, highest=self.max)
        except InvalidQuery as e:
            self.fail(str(e), param, ctx)


@cli.command(
    epilog=output.examples(
        'deployledger audit --failed --since 24h --grep "timed out"',
        "deployledger audit --tenant acme-prod --limit 500 -o csv > audit.csv",
        "deployledger audit --tenant acme-prod --cursor C   # the next page",
        "deployledger audit --all --failed --since 2026-07-01 -o csv > failures.csv",
    )
)
@click.option("--tenant", help="Only this tenant.")
@click.option("--pool", help="Only this pool.")
@click.option("--workload", "workload_name", metavar="NAME", help="Only this workload name.")
@click.option("--rt-id", "workload_rt_id", metavar="ID", help="Only this workload runtime id.")
@click.option("--since", metavar="WHEN", help="From this time: ISO-8601, or 90m, 24h, 7d ago.")
@click.option("--until", metavar="WHEN", help="Before this time: ISO-8601, or 90m, 24h, 7d ago.")
@click.option("--failed", is_flag=True, help="Only failed attempts.")
@click.option("--succeeded", is_flag=True, help="Only successful attempts.")
@click.option("--grep", metavar="TEXT", help="Status message contains TEXT (any case).")
@click.option(
    "--category",
    metavar="C",
    type=click.Choice(CATEGORIES, case_sensitive=False),
    help="Only failed attempts of this category (see `deployledger failures`).",
)
@click.option(
    "--fingerprint", metavar="F", help="Only failed attempts with this fingerprint (`failures`)."
)
@click.option(
    "--limit",
    type=Limit(1, 10_000),
    default=50,
    show_default=True,
    metavar="N",
    help="At most N attempts per page (1 to 10,000).",
)
@click.option("--cursor", metavar="C", help="Continue after a previous page (stderr prints its C).")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every matching attempt, streamed as CSV (the default) or -o jsonl; no pages.",
)
@output.option(format_alias=True)
@output.tz_option()
@min_position_option()
@pass_settings
def audit(
    settings: Settings,
    tenant: str | None,
    pool: str | None,
    workload_name: str | None,
    workload_rt_id: str | None,
    since: str | None,
    until: str | None,
    failed: bool,
    succeeded: bool,
    grep: str | None,
    category: str | None,
    fingerprint: str | None,
    limit: int,
    cursor: str | None,
    everything: bool,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Attempts across the fleet, newest first, a page at a time. Tables show each
    message's headline; -o json|jsonl|csv gives whole messages, exactly."""
    if failed and succeeded:
        raise click.UsageError("--failed and --succeeded exclude each other")
    if everything:
        export.check_options(fmt, cursor)
    now = datetime.now(UTC)
    where = AuditFilter(
        tenants=tenant,
        pools=pool,
        workload_name=workload_name,
        workload_rt_id=workload_rt_id,
        since=parse_when(since, now, "--since"),
        until=parse_when(until, now, "--until"),
        success=True if succeeded else (False if failed else None),
        grep=grep,
        category=category,
        fingerprint=fingerprint,
    )
    if everything:
        with settings.reader() as ledger:
            export.stream(ledger, where, "jsonl" if fmt == "jsonl" else "csv")
        return
    with settings.reader() as ledger:
        page = ledger.audit(where=where, limit=limit, cursor=cursor)
    if fmt != "table":
        rows = [a.to_audit_json() for a in page.items]
        output.write_data(rows, fmt, AUDIT_COLUMNS)
    elif page.items:
        output.write_table(render.audit_table(page.items, zone))
    else:
        click.echo("no attempts match", err=True)
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


def parse_when(value: str | None, now: datetime, option: str) -> datetime | None:
    """`deployledger.parse_when`: an ISO-8601 time (no zone means UTC), or a duration ago
    (90m, 24h, 1h30m, 7d); a refusal names the option."""
    if value is None:
        return None
    try:
        return parse_time(value, now, option.lstrip("-"))
    except InvalidQuery as e:
        raise click.BadParameter(str(e), param_hint=option) from None
