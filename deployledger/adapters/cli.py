"""The `deployledger` command: a thin layer over the `Ledger` calls a controller makes.

Exit codes: 0 success; 2 invalid input or usage; 3 store unavailable; 1 anything else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from deployledger.adapters import render
from deployledger.adapters.inputs import decode_text, parse_reports_text
from deployledger.adapters.storeurl import DEFAULT_STORE_URL, parse_store_url
from deployledger.domain.reports import WorkloadDeploymentStatus, parse_report
from deployledger.errors import (
    DeployLedgerError,
    InvalidReport,
    InvalidStoreURL,
    Problem,
    StoreUnavailable,
    WorkloadNotFound,
)
from deployledger.ledger import Ledger

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Settings:
    def __init__(self, store: str) -> None:
        self.store = store

    @contextmanager
    def ledger(self, *, create: bool | None = False) -> Iterator[Ledger]:
        with Ledger.open(self.store, create=create) as ledger:
            yield ledger


pass_settings = click.make_pass_decorator(Settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--store",
    envvar="DEPLOYLEDGER_STORE",
    default=DEFAULT_STORE_URL,
    show_default=True,
    metavar="URL",
    help="sqlite:///path.db or postgresql://user@host:5432/db (env: DEPLOYLEDGER_STORE).",
)
@click.version_option(package_name="deployledger")
@click.pass_context
def cli(ctx: click.Context, store: str) -> None:
    """Keep every helm deployment status report; answer what happened, and when."""
    ctx.obj = Settings(store)


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
        state = ledger.current(tenant, workload_rt_id)
    if state is None:
        raise WorkloadNotFound(f"no reports recorded for {render.key(tenant, workload_rt_id)}")
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
        if not attempts and ledger.current(tenant, workload_rt_id) is None:
            raise WorkloadNotFound(f"no reports recorded for {render.key(tenant, workload_rt_id)}")
    if as_json:
        click.echo(render.to_json([a.to_json() for a in attempts]))
    elif attempts:
        click.echo(render.history_table(attempts, full=full))


@cli.command()
@pass_settings
def migrate(settings: Settings) -> None:
    """Create or upgrade the store's schema (run once, before starting workers)."""
    with settings.ledger(create=True) as ledger:
        click.echo(f"store {ledger.url.redacted()} is ready")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"deployledger: {message}", err=True)
    sys.exit(code)


def _scrubber(args: list[str]) -> Callable[[str], str]:
    """Remove the store's password from any text, whatever went wrong."""
    candidates = [a.split("=", 1)[-1] for a in args if "://" in a]
    import os

    candidates.append(os.environ.get("DEPLOYLEDGER_STORE", ""))
    passwords = []
    for candidate in candidates:
        try:
            password = parse_store_url(candidate).password
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
    except (InvalidReport, InvalidStoreURL) as e:
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
