"""`show`, `history` and `status`: reading workloads."""

from __future__ import annotations

from datetime import tzinfo

import click

from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, pass_settings

TENANT, RT_ID = "acme-prod", "64f1c0ffee0000000000beef"


@cli.command(
    epilog=output.examples(
        f"deployledger show {TENANT} {RT_ID}",
        f"deployledger show {TENANT} {RT_ID} -o json --tz Europe/Berlin",
    )
)
@click.argument("tenant")
@click.argument("workload_rt_id")
@output.option()
@output.tz_option()
@pass_settings
def show(settings: Settings, tenant: str, workload_rt_id: str, fmt: str, zone: tzinfo) -> None:
    """Show the current state of one workload (of TENANT, with runtime id WORKLOAD_RT_ID)."""
    with settings.ledger() as ledger:
        state = ledger.get(tenant, workload_rt_id)
    if fmt == "table":
        output.write_table(render.state_block(state, zone))
    else:
        output.write_data([state.to_json()], fmt, output.STATE_COLUMNS, single=True)


@cli.command(
    epilog=output.examples(
        f"deployledger history {TENANT} {RT_ID} --limit 5",
        f"deployledger history {TENANT} {RT_ID} --before 3 --full",
        f"deployledger history {TENANT} {RT_ID} -o csv > history.csv",
    )
)
@click.argument("tenant")
@click.argument("workload_rt_id")
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N attempts (newest)."
)
@click.option(
    "--before",
    type=click.IntRange(min=1),
    metavar="ATTEMPT",
    help="Only attempts numbered below ATTEMPT (the next page).",
)
@click.option("--full", is_flag=True, help="Show whole messages under each row (tables).")
@output.option()
@output.tz_option()
@pass_settings
def history(
    settings: Settings,
    tenant: str,
    workload_rt_id: str,
    limit: int | None,
    before: int | None,
    full: bool,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Show the helm attempts of one workload, newest first. Tables show each message's
    headline (its `Error:` line, if any); -o json|jsonl|csv gives whole messages."""
    with settings.ledger() as ledger:
        attempts = ledger.history(tenant, workload_rt_id, limit=limit, before_attempt=before)
        if not attempts:
            ledger.get(tenant, workload_rt_id)  # WorkloadNotFound, unless it has no such page
    if fmt != "table":
        output.write_data([a.to_json() for a in attempts], fmt, output.HISTORY_COLUMNS)
    elif attempts:
        output.write_table(render.history_table(attempts, full=full, zone=zone))
    else:
        click.echo("no attempts match", err=True)


STATES = ["deployed", "error", "pending", "undeployed"]


@cli.command(
    epilog=output.examples(
        "deployledger status --state error",
        f"deployledger status --tenant {TENANT} -o json",
    )
)
@click.option("--tenant", metavar="T", help="Only this tenant.")
@click.option("--pool", metavar="P", help="Only this pool.")
@click.option("--state", type=click.Choice(STATES, case_sensitive=False), help="Only this state.")
@output.option()
@output.tz_option()
@pass_settings
def status(
    settings: Settings,
    tenant: str | None,
    pool: str | None,
    state: str | None,
    fmt: str,
    zone: tzinfo,
) -> None:
    """The fleet: every workload's current state; REASON is the headline of the last
    failure of a workload in Error."""
    with settings.ledger() as ledger:
        states = ledger.workloads(tenant_id=tenant, pool_name=pool, state=state)
    if fmt != "table":
        output.write_data([s.to_json() for s in states], fmt, output.STATE_COLUMNS)
    elif states:
        output.write_table(render.fleet_table(states, zone))
    else:
        click.echo("no workloads match", err=True)
