"""`stats`: delivery metrics (DORA) per tenant, pool, workload or chart."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from deployledger import DeliveryStats
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, min_position_option, pass_settings
from deployledger.cli.audit import parse_when
from deployledger.presentation import STATS_COLUMNS
from deployledger.presentation.durations import format_duration

BLOCKS = " ▁▂▃▄▅▆▇█"


@cli.command(
    epilog=output.examples(
        "deployledger stats",
        "deployledger stats --since 7d --by pool",
        "deployledger stats --by workload --tenant acme-prod --json",
        "deployledger stats --since 2026-10-01 --until 2026-11-01 --by chart -o csv",
    )
)
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="WHEN",
    help="From this time: ISO-8601 (no zone: UTC), or 24h, 7d, 30d ago.",
)
@click.option("--until", metavar="WHEN", help="Before this time (default: now).")
@click.option(
    "--by",
    type=click.Choice(["tenant", "pool", "workload", "chart"]),
    default="tenant",
    show_default=True,
    help="One row per tenant, pool, workload or chart.",
)
@click.option("--tenant", metavar="T", multiple=True, help="Only this tenant (repeatable).")
@click.option("--pool", metavar="P", help="Only this pool.")
@output.option()
@min_position_option()
@pass_settings
def stats(
    settings: Settings,
    since: str,
    until: str | None,
    by: str,
    tenant: tuple[str, ...],
    pool: str | None,
    fmt: str,
) -> None:
    """Delivery metrics per group over a period: deployment frequency (successful outcomes
    per day), change failure rate (failed / all outcomes), failed deployment recovery time
    (first failure of a run to the next success: median and p90; UNRECOVERED counts the
    workloads whose run is still open), deploy duration (request to outcome: median and
    p90), deploys overdue now, and a bar per day of successes (+) and failures (x)."""
    now = datetime.now(UTC)
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until")
    assert start is not None
    with settings.reader() as ledger:
        found = ledger.stats(
            since=start, until=end, by=by, tenant_id=list(tenant) or None, pool=pool
        )
    if fmt != "table":
        # CSV: one row per group, its days as JSON text.
        output.write_data([s.to_json() for s in found], fmt, STATS_COLUMNS)
    elif found:
        output.write_bytes(stats_table(found).encode())
    else:
        click.echo("no outcomes in the period", err=True)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _bar(counts: Sequence[int], top: int) -> str:
    if top <= 0:
        return " " * len(counts)
    return "".join(
        BLOCKS[0] if n == 0 else BLOCKS[max(1, round(n / top * (len(BLOCKS) - 1)))] for n in counts
    )


def stats_table(found: Sequence[DeliveryStats], width: int | None = None) -> str:
    """The metrics as a `rich` table: a row per group, with its days drawn as two bars
    (successes green `+`, failures red `x`), each day one column, scaled to the busiest."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    first = found[0]
    top = max((max(d.successes, d.failures) for s in found for d in s.days), default=0)
    period = (
        f"{first.since:%Y-%m-%d %H:%M} to {first.until:%Y-%m-%d %H:%M} UTC, "
        f"{len(first.days)} day(s); bars: one column a day, + successes, x failures"
    )
    table = Table(title=period, title_justify="left", box=None, header_style="bold")
    table.add_column(first.by.upper())
    for header in ("OUTCOMES", "DEPLOYS/DAY", "CHANGE FAIL", "RECOVERY MED", "P90", "UNRECOVERED"):
        table.add_column(header, justify="right")
    for header in ("DURATION MED", "P90", "OVERDUE"):
        table.add_column(header, justify="right")
    table.add_column("PER DAY", no_wrap=True)
    for s in found:
        key = render.one_line(s.key) if s.key is not None else "-"
        if s.name:
            key += f" ({render.one_line(s.name)})"
        bars = Text("+ ", style="green")
        bars.append(_bar([d.successes for d in s.days], top), style="green")
        bars.append("\nx ", style="red")
        bars.append(_bar([d.failures for d in s.days], top), style="red")
        table.add_row(
            Text(key),
            str(s.outcomes),
            f"{s.deployment_frequency:.2f}",
            _rate(s.change_failure_rate),
            format_duration(s.recovery_median),
            format_duration(s.recovery_p90),
            str(s.unrecovered),
            format_duration(s.duration_median),
            format_duration(s.duration_p90),
            str(s.overdue),
            bars,
        )
    tty = sys.stdout.isatty()
    if width is None:
        width = shutil.get_terminal_size((200, 24)).columns if tty else 200
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=tty, highlight=False)
    console.print(table)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
