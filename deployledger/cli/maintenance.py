"""`project`, `rebuild` and `migrate`: keeping the read model and the schema."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from deployledger.cli import log, output, sinks
from deployledger.cli.app import Settings, cli, pass_settings


@cli.command(
    epilog=output.examples(
        "deployledger project",
        "deployledger project --follow --poll-interval 5",
    )
)
@click.option("--follow", is_flag=True, help="Keep applying new events until stopped.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="With --follow: look for new events at least this often (PostgreSQL also "
    "wakes on each new event).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --follow: write a checkpoint of the log after every N new events.",
)
@click.option(
    "--checkpoint-minutes",
    type=click.FloatRange(min=0, min_open=True),
    metavar="M",
    help="With --follow: write a checkpoint M minutes after the last one, if the log grew.",
)
@click.option(
    "--checkpoint-key", metavar="FILE", help="Sign those checkpoints with this private key."
)
@click.option("--origin", default="deployledger", show_default=True, help="The log's name.")
@click.option(
    "--sinks/--no-sinks",
    "deliver",
    default=True,
    show_default=True,
    help="With --follow: deliver to the notification sinks too (`sink --help`).",
)
@pass_settings
def project(
    settings: Settings,
    follow: bool,
    poll_interval: float,
    checkpoint_every: int | None,
    checkpoint_minutes: float | None,
    checkpoint_key: str | None,
    origin: str,
    deliver: bool,
) -> None:
    """Bring the read model up to date (once, or continuously with --follow), and the
    tamper-evident log with it; with --follow, optionally write checkpoints as it goes."""
    scheduled = checkpoint_every is not None or checkpoint_minutes is not None
    if not follow and (scheduled or checkpoint_key):
        raise click.UsageError(
            "--checkpoint-every/--checkpoint-minutes/--checkpoint-key need --follow"
        )
    if checkpoint_key and not scheduled:
        raise click.UsageError("--checkpoint-key needs --checkpoint-every or --checkpoint-minutes")
    key = log.signing_key(checkpoint_key, origin)
    with settings.ledger() as ledger:
        if not follow:
            applied = ledger.catch_up()
            click.echo(f"applied {applied} events; read model at position {ledger.read_position()}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        delivery = sinks.start_delivery(ledger, stop, poll_interval) if deliver else None
        ledger.follow(
            stop,
            poll_interval=poll_interval,
            on_standby=lambda: click.echo("standing by: another follower is active", err=True),
            on_leader=lambda: click.echo(
                "following (leader); stop with Ctrl-C or SIGTERM", err=True
            ),
            checkpoint_every=checkpoint_every,
            checkpoint_minutes=checkpoint_minutes,
            checkpoint_key=key,
            checkpoint_origin=origin,
            on_checkpoint=lambda made: click.echo(
                f"checkpoint of {made.checkpoint.size} events:\n{made.text()}", err=True
            ),
            on_outage=lambda error: click.echo(f"{error}; reconnecting", err=True),
        )
        stop.set()
        if delivery is not None:
            delivery.join(timeout=15)
        click.echo(f"stopped at position {ledger.read_position()}", err=True)


@cli.command(epilog=output.examples("deployledger rebuild"))
@pass_settings
def rebuild(settings: Settings) -> None:
    """Rebuild the read model from every event, beside the live one, then switch."""
    with settings.ledger() as ledger:
        total = ledger.max_position()
        with _progress(total) as advance:
            result = ledger.rebuild(progress=advance)
    click.echo(
        f"rebuilt read model: {result.events} events, {result.workloads} workloads, "
        f"{result.attempts} attempts; switched at position {result.position}"
    )


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int, int], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("rebuilding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events {task.fields[rate]:>9} ev/s  ETA"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("rebuild", total=max(total, 1), rate="-")

        def advance(done: int, position: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            completed = bar.tasks[0].completed + done
            bar.update(task, completed=completed, rate=f"{completed / elapsed:,.0f}")

        yield advance
        bar.update(task, completed=max(total, 1))


@cli.command(
    epilog=output.examples(
        "deployledger --store postgresql://app@db.internal:5432/deployledger migrate"
    )
)
@pass_settings
def migrate(settings: Settings) -> None:
    """Create or upgrade the store's schema (run once, before starting workers)."""
    with settings.ledger(create=True) as ledger:
        click.echo(f"store {ledger.url.redacted()} is ready")
