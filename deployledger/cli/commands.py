"""The `deployledger` command: a thin layer over the `Ledger` calls a controller makes.

Exit codes: 0 success; 2 invalid input or usage; 3 store unavailable; 1 anything else.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click

from deployledger import (
    DeployLedgerError,
    InvalidQuery,
    InvalidReport,
    InvalidStoreURL,
    Ledger,
    Problem,
    StoreUnavailable,
    StoreURL,
    WorkloadDeploymentStatus,
    parse_report,
)
from deployledger.cli import render
from deployledger.cli.inputs import decode_text, json_kind, parse_reports_text

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Settings:
    def __init__(self, store: str, read_model: str | None) -> None:
        self.store = store
        self.read_model = read_model

    @contextmanager
    def ledger(self, *, create: bool | None = False) -> Iterator[Ledger]:
        with Ledger.open(self.store, create=create, read_model_url=self.read_model) as ledger:
            yield ledger


pass_settings = click.make_pass_decorator(Settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--store",
    envvar="DEPLOYLEDGER_STORE",
    default=StoreURL.DEFAULT,
    show_default=True,
    metavar="URL",
    help="sqlite:///path.db or postgresql://user@host:5432/db (env: DEPLOYLEDGER_STORE).",
)
@click.option(
    "--read-model",
    envvar="DEPLOYLEDGER_READ_MODEL",
    metavar="URL",
    help="Keep the read model in another database (env: DEPLOYLEDGER_READ_MODEL).",
)
@click.version_option(package_name="deployledger")
@click.pass_context
def cli(ctx: click.Context, store: str, read_model: str | None) -> None:
    """Keep every helm deployment status report; answer what happened, and when."""
    ctx.obj = Settings(store, read_model)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print receipts as JSON Lines.")
@pass_settings
def record(settings: Settings, files: tuple[str, ...], as_json: bool) -> None:
    """Record reports from FILES (or stdin): a JSON object, a JSON array, or JSON Lines.

    All or nothing: if any report is invalid, nothing is stored.
    """
    sources = list(files) or ["-"]
    reports: list[WorkloadDeploymentStatus] = []
    problems: list[str] = []
    for source in sources:
        prefix = f"{source}: " if len(sources) > 1 else ""
        parsed, found = _read_source(source)
        reports.extend(parsed)
        problems.extend(prefix + str(p) for p in found)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        noun = "problem" if len(problems) == 1 else "problems"
        click.echo(f"nothing recorded: {len(problems)} {noun} in input", err=True)
        sys.exit(EXIT_INVALID)
    if not reports:
        click.echo("no reports in input; nothing recorded", err=True)
        return
    with settings.ledger(create=None) as ledger:
        receipts = ledger.record_many(reports)
    for receipt in receipts:
        click.echo(render.to_json(receipt.to_json()) if as_json else render.receipt_line(receipt))


def _read_source(source: str) -> tuple[list[WorkloadDeploymentStatus], list[Problem]]:
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as e:
            raise click.BadParameter(f"cannot read {source}: {e.strerror}") from None
    text, problem = decode_text(data)
    if text is None:
        assert problem is not None
        return [], [problem]
    raw, problems = parse_reports_text(text)
    reports = []
    for item in raw:
        if not isinstance(item.value, dict):
            reason = f"a report must be a JSON object, got {json_kind(item.value)}"
            problems.append(Problem("(report)", reason, item.number, item.line))
            continue
        try:
            reports.append(parse_report(item.value))
        except InvalidReport as e:
            problems.extend(Problem(p.field, p.reason, item.number, item.line) for p in e.problems)
    problems.sort(key=lambda p: p.report or 0)
    return reports, problems


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
FORMATS = ["table", "json", "jsonl", "csv"]


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


@cli.command()
@click.option("--tenant", help="Only this tenant.")
@click.option("--pool", help="Only this pool.")
@click.option("--workload", "workload_name", metavar="NAME", help="Only this workload name.")
@click.option("--rt-id", "workload_rt_id", metavar="ID", help="Only this workload runtime id.")
@click.option("--since", metavar="WHEN", help="From this time: ISO-8601, or 90m, 24h, 7d ago.")
@click.option("--until", metavar="WHEN", help="Before this time: ISO-8601, or 90m, 24h, 7d ago.")
@click.option("--failed", is_flag=True, help="Only failed attempts.")
@click.option("--succeeded", is_flag=True, help="Only successful attempts.")
@click.option("--grep", metavar="TEXT", help="Status message contains TEXT (any case).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--cursor", metavar="C", help="Continue after a previous page.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
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
    limit: int,
    cursor: str | None,
    fmt: str,
) -> None:
    """Attempts across the fleet, newest first, a page at a time."""
    if failed and succeeded:
        raise click.UsageError("--failed and --succeeded exclude each other")
    now = datetime.now(UTC)
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
        )
    rows = [a.to_audit_json() for a in page.items]
    if fmt == "json":
        click.echo(render.to_json(rows))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(render.to_json(row))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=render.AUDIT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in rows)
        click.echo(out.getvalue(), nl=False)
    elif page.items:
        click.echo(render.audit_table(page.items))
    else:
        click.echo("no attempts match", err=True)
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


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


@cli.command()
@click.option("--follow", is_flag=True, help="Keep applying new events until stopped.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@pass_settings
def project(settings: Settings, follow: bool, poll_interval: float) -> None:
    """Bring the read model up to date (once, or continuously with --follow)."""
    with settings.ledger() as ledger:
        if not follow:
            applied = ledger.catch_up()
            click.echo(f"applied {applied} events; read model at position {ledger.read_position()}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo("following; stop with Ctrl-C or SIGTERM", err=True)
        ledger.follow(stop, poll_interval=poll_interval)
        click.echo(f"stopped at position {ledger.read_position()}", err=True)


@cli.command()
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


@cli.command()
@pass_settings
def migrate(settings: Settings) -> None:
    """Create or upgrade the store's schema (run once, before starting workers)."""
    with settings.ledger(create=True) as ledger:
        click.echo(f"store {ledger.url.redacted()} is ready")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"deployledger: {render.safe(message)}", err=True)
    sys.exit(code)


def _scrubber(args: list[str]) -> Callable[[str], str]:
    """Remove the store's password from any text, whatever went wrong."""
    candidates = [a.split("=", 1)[-1] for a in args if "://" in a]
    import os

    candidates.append(os.environ.get("DEPLOYLEDGER_STORE", ""))
    passwords = []
    for candidate in candidates:
        try:
            password = StoreURL.parse(candidate).password
        except DeployLedgerError:
            continue
        if password:
            passwords.append(password)

    def scrub(text: str) -> str:
        for password in passwords:
            text = text.replace(password, "***")
        return text

    return scrub


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `deployledger` script."""
    args = sys.argv[1:] if argv is None else argv
    scrub = _scrubber(args)
    try:
        cli.main(args=args, prog_name="deployledger", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(EXIT_OK)
    except click.UsageError as e:
        e.show()
        sys.exit(EXIT_INVALID)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_INVALID if e.exit_code == 2 else EXIT_ERROR)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except (InvalidReport, InvalidStoreURL, InvalidQuery) as e:
        _fail(scrub(str(e)), EXIT_INVALID)
    except StoreUnavailable as e:
        _fail(scrub(str(e)), EXIT_UNAVAILABLE)
    except DeployLedgerError as e:
        _fail(scrub(str(e)), EXIT_ERROR)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_ERROR)
    except json.JSONDecodeError as e:  # pragma: no cover - inputs are decoded above
        _fail(scrub(str(e)), EXIT_INVALID)
    except Exception as e:  # a traceback shown to a user is a bug: one line, then exit 1
        _fail(scrub(f"internal error: {type(e).__name__}: {e}"), EXIT_ERROR)
    sys.exit(EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
