"""`show`, `history` and `status`: reading workloads."""

from __future__ import annotations

import click

from deployledger.cli import render
from deployledger.cli.app import Settings, cli, pass_settings


@cli.command()
@click.argument("tenant")
@click.argument("workload_rt_id")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@pass_settings
def show(settings: Settings, tenant: str, workload_rt_id: str, as_json: bool) -> None:
    """Show the current state of one workload."""
    with settings.ledger() as ledger:
        state = ledger.get(tenant, workload_rt_id)
    click.echo(render.to_json(state.to_json()) if as_json else render.state_block(state))


@cli.command()
@click.argument("tenant")
@click.argument("workload_rt_id")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most N attempts.")
@click.option("--before", type=click.IntRange(min=1), metavar="ATTEMPT", help="Older than this.")
@click.option("--full", is_flag=True, help="Show whole messages.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, whole messages.")
@pass_settings
def history(
    settings: Settings,
    tenant: str,
    workload_rt_id: str,
    limit: int | None,
    before: int | None,
    full: bool,
    as_json: bool,
) -> None:
    """Show the helm attempts of one workload, newest first."""
    with settings.ledger() as ledger:
        attempts = ledger.history(tenant, workload_rt_id, limit=limit, before_attempt=before)
        if not attempts:
            ledger.get(tenant, workload_rt_id)  # WorkloadNotFound, unless it has no such page
    if as_json:
        click.echo(render.to_json([a.to_json() for a in attempts]))
    elif attempts:
        click.echo(render.history_table(attempts, full=full))


STATES = ["deployed", "error", "pending", "undeployed"]


@cli.command()
@click.option("--tenant", help="Only this tenant.")
@click.option("--pool", help="Only this pool.")
@click.option("--state", type=click.Choice(STATES, case_sensitive=False), help="Only this state.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_settings
def status(
    settings: Settings, tenant: str | None, pool: str | None, state: str | None, as_json: bool
) -> None:
    """The fleet: every workload's current state."""
    with settings.ledger() as ledger:
        states = ledger.workloads(tenant_id=tenant, pool_name=pool, state=state)
    if as_json:
        click.echo(render.to_json([s.to_json() for s in states]))
    elif states:
        click.echo(render.fleet_table(states))
    else:
        click.echo("no workloads match", err=True)
