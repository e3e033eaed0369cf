"""`sink add|list|remove|status|retry|deliver`: notifications out (see docs/notifications.md).

A sink receives the outcomes and undeploys recorded after it was added (or from
`--from-position N`), as CDEvents, webhook rows or Grafana annotations. `project --follow`
and `serve` deliver; `sink deliver` does so on its own. Secrets are never printed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any

import click

from deployledger import DeadLetter, Sink
from deployledger.cli import output, render
from deployledger.cli.app import Settings, cli, pass_settings
from deployledger.presentation import SINK_COLUMNS
from deployledger.presentation.sinks import outgoing

KINDS = ("cdevents", "webhook", "grafana")


@cli.group(
    epilog=output.examples(
        "deployledger sink add slack --kind webhook --url https://hooks.slack.com/services/T/B/X "
        "--slack-text --filter state=error",
        "deployledger sink status",
        "deployledger sink retry slack",
    )
)
def sink() -> None:
    """Send deploy events to CDEvents brokers, webhooks (Slack) and Grafana."""


@sink.command(
    epilog=output.examples(
        "deployledger sink add broker --kind cdevents --url http://broker.example/events",
        "deployledger sink add grafana --kind grafana --url https://grafana.example "
        "--secret-env GRAFANA_TOKEN",
        "deployledger sink add audit --kind webhook --url https://hooks.example/x "
        "--secret s3cret --filter tenant=acme-prod,state=error --from-position 1",
    )
)
@click.argument("name")
@click.option("--url", required=True, help="Where to POST (http:// or https://).")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="The payload sent.")
@click.option(
    "--secret",
    envvar="DEPLOYLEDGER_SINK_SECRET",
    help="webhook: HMAC-SHA256 key of the signature header; grafana and cdevents: a bearer "
    "token (env: DEPLOYLEDGER_SINK_SECRET). Never printed back.",
)
@click.option(
    "--filter",
    "where",
    metavar="KEY=VALUE,...",
    help="Only matching events: tenant, pool, workload, state (deployed, error, "
    "undeployed), category; a key given twice matches either value.",
)
@click.option(
    "--spec", default="0.4.1", show_default=True, help="cdevents: the CDEvents spec (0.4.x, 0.5.x)."
)
@click.option("--slack-text", is_flag=True, help="webhook: add a Slack-compatible `text`.")
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Failures before a delivery becomes a dead letter.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(0, 3600, min_open=True),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="First retry delay (doubling, with jitter, up to 5 minutes).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the receiver has to answer.",
)
@click.option(
    "--from-position",
    type=click.IntRange(min=0),
    metavar="N",
    help="Send the events from position N on (default: only those recorded from now).",
)
@pass_settings
def add(
    settings: Settings,
    name: str,
    url: str,
    kind: str,
    secret: str | None,
    where: str | None,
    spec: str,
    slack_text: bool,
    max_attempts: int,
    backoff: float,
    timeout: float,
    from_position: int | None,
) -> None:
    """Add a sink."""
    with settings.ledger(create=None) as ledger:
        made = ledger.sinks.add(
            name,
            url=url,
            kind=kind,
            secret=secret,
            filter=where,
            spec=spec,
            slack_text=slack_text,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout=timeout,
            from_position=from_position,
        )
    where = render.one_line(made.shown_url)
    click.echo(
        f"added sink {render.one_line(made.name)} ({made.kind}, {where}); "
        f"it sends events after position {made.position}"
    )


@sink.command(name="list", epilog=output.examples("deployledger sink list -o json"))
@output.option()
@output.tz_option()
@pass_settings
def list_sinks(settings: Settings, fmt: str, zone: tzinfo) -> None:
    """The sinks and their settings (a secret only as `yes`)."""
    with settings.ledger(create=None) as ledger:
        found = ledger.sinks.list()
    if fmt != "table":
        output.write_data([s.to_json() for s in found], fmt, SINK_COLUMNS)
    elif found:
        headers = ["NAME", "KIND", "URL", "FILTER", "SECRET", "CREATED"]
        rows: list[list[Any]] = [
            [
                render.one_line(s.name),
                s.kind + (f" {s.spec}" if s.kind == "cdevents" else ""),
                render.one_line(s.shown_url),
                render.one_line(s.filter.text() or "*"),
                "yes" if s.has_secret else "no",
                render.when(s.created_at, zone),
            ]
            for s in found
        ]
        output.write_table(render.table(headers, rows, right=set()))
    else:
        click.echo("no sinks", err=True)


@sink.command(epilog=output.examples("deployledger sink remove slack"))
@click.argument("name")
@pass_settings
def remove(settings: Settings, name: str) -> None:
    """Remove a sink and its dead letters (its worker stops within seconds)."""
    with settings.ledger(create=None) as ledger:
        ledger.sinks.remove(name)
    click.echo(f"removed sink {render.one_line(name)}")


@sink.command(epilog=output.examples("deployledger sink status", "deployledger sink status slack"))
@click.argument("name", required=False)
@output.option()
@output.tz_option()
@pass_settings
def status(settings: Settings, name: str | None, fmt: str, zone: tzinfo) -> None:
    """Where each sink's delivery stands: cursor, lag, delivered, failures, dead letters;
    with NAME, its dead letters too."""
    with settings.ledger(create=None) as ledger:
        found = [ledger.sinks.get(name)] if name else ledger.sinks.list()
        letters = ledger.sinks.dead_letters(name) if name else []
    if fmt != "table":
        rows = [s.to_json() for s in found]
        if name:
            rows[0]["deadLetterList"] = [d.to_json() for d in letters]
        output.write_data(rows, fmt, SINK_COLUMNS)
        return
    if not found:
        click.echo("no sinks", err=True)
        return
    output.write_table(status_table(found))
    if letters:
        click.echo()
        output.write_table(dead_table(letters, zone))


def status_table(found: Sequence[Sink]) -> str:
    headers = ["SINK", "KIND", "POSITION", "LAG", "DELIVERED", "FAILING", "DEAD", "LAST ERROR"]
    rows: list[list[Any]] = [
        [
            render.one_line(s.name),
            s.kind,
            str(s.position),
            str(s.lag_events),
            str(s.delivered),
            str(s.failures),
            str(s.dead_letters),
            render.one_line((s.last_error or "-")[:60]),
        ]
        for s in found
    ]
    return render.table(headers, rows, right={2, 3, 4, 5, 6})


def dead_table(letters: Sequence[DeadLetter], zone: tzinfo = UTC) -> str:
    headers = ["POSITION", "WORKLOAD", "ATTEMPTS", "DEAD SINCE", "RETRY", "ERROR"]
    rows: list[list[Any]] = [
        [
            str(d.position),
            render.key(d.tenant_id, d.workload_rt_id),
            str(d.attempts),
            render.when(d.dead_at, zone),
            "asked" if d.retry else "-",
            render.one_line(d.error[:60]),
        ]
        for d in letters
    ]
    return render.table(headers, rows, right={0, 2})


@sink.command(
    epilog=output.examples("deployledger sink retry slack", "deployledger sink retry slack -p 42")
)
@click.argument("name")
@click.option("--position", "-p", type=click.IntRange(min=1), help="Only this dead letter.")
@pass_settings
def retry(settings: Settings, name: str, position: int | None) -> None:
    """Send a sink's dead letters again (done by whichever process delivers)."""
    with settings.ledger(create=None) as ledger:
        count = ledger.sinks.retry(name, position)
    click.echo(f"{count} dead letter(s) of sink {render.one_line(name)} will be sent again")


@sink.command(
    epilog=output.examples("deployledger sink deliver", "deployledger sink deliver --once")
)
@click.option(
    "--once",
    is_flag=True,
    help="Deliver what is pending now, then exit (a failed delivery whose retry is not due "
    "yet is left to a later run).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Look for new events at least this often.",
)
@pass_settings
def deliver(settings: Settings, once: bool, poll_interval: float) -> None:
    """Deliver to every sink (as `project --follow` does), until stopped or --once. A
    sink sends what the read model holds: run a follower too (`project --follow`), or use
    --once, which brings the read model up to date first."""
    with settings.ledger(create=None) as ledger:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if once:
            ledger.catch_up()  # what a sink sends is read from the read model
            ledger.sinks.deliver(outgoing, stop=stop)
            return
        click.echo("delivering to sinks; stop with Ctrl-C or SIGTERM", err=True)
        ledger.sinks.run(stop, outgoing, poll_interval=poll_interval, on_error=say_error)


def say_error(name: str, error: Exception) -> None:
    click.echo(f"sink {render.one_line(name)}: {render.one_line(str(error))}", err=True)


def start_delivery(ledger: Any, stop: threading.Event, poll_interval: float) -> threading.Thread:
    """Deliver to the sinks in a background thread until `stop` (for `project --follow`)."""
    thread = threading.Thread(
        target=ledger.sinks.run,
        args=(stop, outgoing),
        kwargs={"poll_interval": poll_interval, "on_error": say_error},
        name="deployledger-sinks",
        daemon=True,
    )
    thread.start()
    return thread
