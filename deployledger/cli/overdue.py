"""`overdue`: the deploys that never reported back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta, tzinfo

import click

from deployledger import Overdue, parse_duration
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, min_position_option, pass_settings
from deployledger.presentation import OVERDUE_COLUMNS
from deployledger.presentation.durations import format_duration

DEFAULT_OLDER_THAN = "15m"


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


@cli.command(
    epilog=output.examples(
        "deployledger overdue",
        "deployledger overdue --older-than 1h30m --tenant acme-prod",
        "deployledger overdue --pool pool-eu-west-1 --json",
    )
)
@click.option(
    "--older-than",
    default=DEFAULT_OLDER_THAN,
    show_default=True,
    metavar="DURATION",
    callback=_duration,
    help="Waiting longer than this: 90s, 15m, 2h, 1d, 1h30m, or seconds (900).",
)
@click.option("--tenant", metavar="T", help="Only this tenant.")
@click.option("--pool", metavar="P", help="Only this pool (its name or its runtime id).")
@output.option()
@output.tz_option()
@min_position_option()
@pass_settings
def overdue(
    settings: Settings,
    older_than: timedelta,
    tenant: str | None,
    pool: str | None,
    fmt: str,
    zone: tzinfo,
) -> None:
    """Deploys that never reported back: workloads whose latest deploy request has had no
    outcome and no undeploy for longer than --older-than, oldest request first. AGE is how
    long the request has waited; PROGRESS, the headline of its last progress message."""
    with settings.reader() as ledger:
        found = ledger.overdue(older_than=older_than, tenant_id=tenant, pool=pool)
    if fmt != "table":
        output.write_data([o.to_json() for o in found], fmt, OVERDUE_COLUMNS)
    elif found:
        output.write_table(overdue_table(found, zone))
    else:
        said = format_duration(older_than.total_seconds())
        click.echo(f"no deploy has waited for its outcome longer than {said}", err=True)


def overdue_table(rows: Sequence[Overdue], zone: tzinfo = UTC) -> str:
    headers = ["TENANT", "WORKLOAD RT ID", "WORKLOAD", "POOL", "CHART", "REQUESTED AT", "AGE"]
    headers += ["PROGRESS"]
    table = [
        [
            render.one_line(o.tenant_id),
            render.one_line(o.workload_rt_id),
            render.one_line(o.workload_name or "-"),
            render.one_line(o.pool_name or o.pool_rt_id or "-"),
            render.chart(o.chart_name, o.chart_version),
            render.when(o.requested_at, zone),
            format_duration(o.age.total_seconds()),
            render.summary(o.progress_message, width=80),
        ]
        for o in rows
    ]
    return render.table(headers, table, right={6})
