"""`record`: reports in, from files or stdin, all or nothing."""

from __future__ import annotations

import sys

import click

from deployledger import (
    InvalidReport,
    Problem,
    WorkloadDeploymentStatus,
    parse_report,
)
from deployledger.cli import render
from deployledger.cli.app import EXIT_INVALID, Settings, cli, pass_settings
from deployledger.cli.inputs import decode_text, json_kind, parse_reports_text


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
