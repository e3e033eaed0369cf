"""`audit`: attempts across the fleet, as a table or as exact data (json, jsonl, csv)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

import click

from deployledger import FAILURE_CATEGORIES as CATEGORIES
from deployledger.cli import export, output, render
from deployledger.cli.app import Settings, cli, pass_settings


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
    type=click.IntRange(1, 10_000),
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
    now = datetime.now(UTC)
    if everything:
        export.check_options(fmt, cursor)
        filters = {
            "tenant_id": tenant,
            "pool_name": pool,
            "workload_name": workload_name,
            "workload_rt_id": workload_rt_id,
            "since": parse_when(since, now, "--since"),
            "until": parse_when(until, now, "--until"),
            "success": True if succeeded else (False if failed else None),
            "grep": grep,
            "category": category,
            "fingerprint": fingerprint,
        }
        with settings.ledger() as ledger:
            export.stream(ledger, filters, "jsonl" if fmt == "jsonl" else "csv")
        return
    with settings.ledger() as ledger:
        page = ledger.audit(
            tenant_id=tenant,
            pool_name=pool,
            workload_name=workload_name,
            workload_rt_id=workload_rt_id,
            since=parse_when(since, now, "--since"),
            until=parse_when(until, now, "--until"),
            success=True if succeeded else (False if failed else None),
            grep=grep,
            limit=limit,
            cursor=cursor,
            category=category,
            fingerprint=fingerprint,
        )
    if fmt != "table":
        rows = [a.to_audit_json() for a in page.items]
        output.write_data(rows, fmt, output.AUDIT_COLUMNS)
    elif page.items:
        output.write_table(render.audit_table(page.items, zone))
    else:
        click.echo("no attempts match", err=True)
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str | None, now: datetime, option: str) -> datetime | None:
    """An ISO-8601 time (no zone means UTC), or a duration ago: 90m, 24h, 7d."""
    if value is None:
        return None
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO-8601 time nor a duration like 90m, 24h, 7d",
            param_hint=option,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
