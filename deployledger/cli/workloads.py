"""`show`, `history` and `status`: reading workloads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import click

from deployledger.cli import output, render, timeline
from deployledger.cli.app import Settings, cli, min_position_option, pass_settings
from deployledger.cli.audit import parse_when
from deployledger.presentation import HISTORY_COLUMNS, STATE_COLUMNS, TIMELINE_COLUMNS

TENANT, RT_ID = "acme-prod", "64f1c0ffee0000000000beef"
AT_HELP = (
    "As of this moment: ISO-8601 (no zone means UTC), or a duration ago (90m, 2h, 7d). "
    "Each workload as after its last message by then (see docs/asof.md: effective time)."
)


def at_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--at", metavar="WHEN", help=AT_HELP)


def parse_at(value: str | None, now: datetime) -> datetime | None:
    """`--at`, as `parse_when` reads it; a moment too far back is a usage error too."""
    try:
        return parse_when(value, now, "--at")
    except OverflowError:
        raise click.BadParameter(f"{value!r} is too far back", param_hint="--at") from None


def as_of(when: datetime | None, zone: tzinfo) -> None:
    """Say on stderr which moment a table shows, when it is not now."""
    if when is not None:
        click.echo(f"as of {render.when(when, zone)}", err=True)


@cli.command(
    epilog=output.examples(
        f"deployledger show {TENANT} {RT_ID}",
        f"deployledger show {TENANT} {RT_ID} -o json --tz Europe/Berlin",
        f"deployledger show {TENANT} {RT_ID} --at 2026-11-24T14:03:00+01:00",
    )
)
@click.argument("tenant")
@click.argument("workload_rt_id")
@at_option()
@output.option()
@output.tz_option()
@min_position_option()
@pass_settings
def show(
    settings: Settings,
    tenant: str,
    workload_rt_id: str,
    at: str | None,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Show the current state of one workload (of TENANT, with runtime id WORKLOAD_RT_ID):
    the chart deployed now, the one pending and for how long, and its attempts. With --at,
    as it was at that moment (pending age measured to it)."""
    now = datetime.now(UTC)
    when = parse_at(at, now)
    with settings.reader() as ledger:
        state = ledger.get(tenant, workload_rt_id, at=when)
    if fmt == "table":
        as_of(when, zone)
        output.write_table(render.state_block(state, zone, when or now))
    else:
        output.write_data([state.to_json()], fmt, STATE_COLUMNS, single=True)


@cli.command(
    epilog=output.examples(
        f"deployledger history {TENANT} {RT_ID} --limit 5",
        f"deployledger history {TENANT} {RT_ID} --attempts --before 3 --full",
        f"deployledger history {TENANT} {RT_ID} -o csv > timeline.csv",
    )
)
@click.argument("tenant")
@click.argument("workload_rt_id")
@click.option(
    "--attempts",
    "attempts_only",
    is_flag=True,
    help="Only the outcomes (helm attempts), numbered: no requests, progress or undeploys.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N entries (newest)."
)
@click.option(
    "--before",
    type=click.IntRange(min=1),
    metavar="ATTEMPT",
    help="Only attempts numbered below ATTEMPT (the next page; implies --attempts).",
)
@click.option("--full", is_flag=True, help="Show whole messages under each row (tables).")
@output.option()
@output.tz_option()
@min_position_option()
@pass_settings
def history(
    settings: Settings,
    tenant: str,
    workload_rt_id: str,
    attempts_only: bool,
    limit: int | None,
    before: int | None,
    full: bool,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Show the timeline of one workload, newest first: deploy requests (chart, whether the
    values changed), progress messages, outcomes (state, duration, helm operation and exit
    code) and undeploys. Tables show each message's headline (its `Error:` line, if any);
    -o json|jsonl|csv gives whole messages."""
    attempts_only = attempts_only or before is not None
    with settings.reader() as ledger:
        if attempts_only:
            entries: list[timeline.Entry] = list(
                ledger.history(tenant, workload_rt_id, limit=limit, before_attempt=before)
            )
        else:
            entries = ledger.timeline(tenant, workload_rt_id, limit=limit)
        if not entries:
            ledger.get(tenant, workload_rt_id)  # WorkloadNotFound, unless it has no such page
    if fmt != "table":
        columns = HISTORY_COLUMNS if attempts_only else TIMELINE_COLUMNS
        output.write_data([e.to_json() for e in entries], fmt, columns)
    elif entries:
        table = timeline.history_table(entries, full=full, zone=zone, kinds=not attempts_only)
        output.write_table(table)
    else:
        click.echo("no attempts match", err=True)


STATES = ["deployed", "error", "pending", "undeployed"]


@cli.command(
    epilog=output.examples(
        "deployledger status --state error",
        f"deployledger status --tenant {TENANT} -o json",
        "deployledger status --pool pool-a --at 2026-11-24T14:03:00+01:00",
        "deployledger status --state error --at 2h",
    )
)
@click.option("--tenant", metavar="T", help="Only this tenant.")
@click.option("--pool", metavar="P", help="Only this pool.")
@click.option("--state", type=click.Choice(STATES, case_sensitive=False), help="Only this state.")
@at_option()
@output.option()
@output.tz_option()
@min_position_option()
@pass_settings
def status(
    settings: Settings,
    tenant: str | None,
    pool: str | None,
    state: str | None,
    at: str | None,
    fmt: str,
    zone: tzinfo,
) -> None:
    """The fleet: every workload's current state. REASON is the headline of the last
    failure of a workload in Error, or of the last progress message of one Pending;
    PENDING FOR, how long a pending deploy request has waited for its outcome. With --at,
    the fleet as it was at that moment: the filters apply to the states of then, and
    workloads with no message by then are not listed."""
    now = datetime.now(UTC)
    when = parse_at(at, now)
    with settings.reader() as ledger:
        states = ledger.workloads(tenant_id=tenant, pool_name=pool, state=state, at=when)
    if fmt != "table":
        output.write_data([s.to_json() for s in states], fmt, STATE_COLUMNS)
    elif states:
        as_of(when, zone)
        output.write_table(render.fleet_table(states, zone, when or now))
    else:
        click.echo("no workloads match", err=True)
