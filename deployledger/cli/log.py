"""The tamper-evident log: `keygen`, `checkpoint`, `verify`, `prove`, `export-bundle`,
`verify-bundle`.

`verify` and `verify-bundle` exit 0 when all is intact, 1 when tampering is found (each
problem listed with its position), 2 on bad input.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deployledger import InvalidBundle, InvalidCheckpoint, InvalidKey
from deployledger.cli import render
from deployledger.cli.app import EXIT_ERROR, Settings, cli, pass_settings
from deployledger.cli.audit import parse_when
from deployledger.cli.output import examples

# The log's keys and checkpoints (cryptography) are imported by the commands that use them.
if TYPE_CHECKING:
    from deployledger import BundleSummary, SignedCheckpoint, SigningKey, VerifierKey, VerifyReport

ORIGIN_HELP = "The log's name in the checkpoint."
KEY_NAME_HELP = "The name of a PEM key (key files from `keygen` carry their own)."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise click.BadParameter(f"cannot read {what} {path!r}: {reason}") from None


def _pem(text: str) -> bool:
    return text.lstrip().startswith("-----BEGIN")


def signing_key(path: str | None, name: str) -> SigningKey | None:
    """The private key in `path` (a key line from `keygen`, or a PEM one, named `name`)."""
    if path is None:
        return None
    from deployledger import load_signing_key

    text = _read(path, "key file")
    try:
        return load_signing_key(text, name=name if _pem(text) else None)
    except InvalidKey as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--key") from None


def _verifier_keys(paths: tuple[str, ...], name: str | None) -> list[VerifierKey]:
    from deployledger import load_verifier_key

    keys = []
    for path in paths:
        text = _read(path, "key file")
        try:
            keys.append(load_verifier_key(text, name=name if _pem(text) else None))
        except InvalidKey as e:
            raise click.BadParameter(f"{path}: {e}", param_hint="--key") from None
    return keys


def _checkpoint_file(path: str) -> SignedCheckpoint:
    from deployledger import parse_checkpoint

    try:
        return parse_checkpoint(_read(path, "checkpoint"))
    except InvalidCheckpoint as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--checkpoint") from None


@cli.command(
    epilog=examples(
        "deployledger keygen ledger.key",
        "deployledger keygen --name ledger.example.com/prod /secrets/ledger.key",
    )
)
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--name", default="deployledger", show_default=True, help="The key's name.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(out: str, name: str, force: bool) -> None:
    """Make an Ed25519 key pair for signing checkpoints: OUT (private, mode 0600) and
    OUT.pub (public, for `verify --key`), in the C2SP signed-note key formats."""
    from deployledger import generate_key

    try:
        key = generate_key(name)
    except InvalidKey as e:
        raise click.BadParameter(str(e), param_hint="--name") from None
    private, public = Path(out), Path(out + ".pub")
    for path in (private, public):
        if path.exists() and not force:
            raise click.UsageError(f"{path} exists (--force overwrites it)")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(private, flags, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key.to_text() + "\n")
        public.write_text(key.verifier.to_text() + "\n", encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot write the key: {e.strerror or e}") from None
    click.echo(f"private key: {private} (keep it secret)")
    click.echo(f"public key:  {public}")
    click.echo(f"verifier:    {key.verifier.to_text()}")


@cli.command(
    epilog=examples(
        "deployledger checkpoint",
        "deployledger checkpoint --key ledger.key > checkpoint-$(date +%F).txt",
    )
)
@click.option("--key", "key_path", metavar="FILE", help="Sign with this private key (keygen).")
@click.option("--key-name", metavar="NAME", help=KEY_NAME_HELP + " Default: the origin.")
@click.option("--origin", default="deployledger", show_default=True, help=ORIGIN_HELP)
@click.option("--out", "out", metavar="FILE", help="Also write the checkpoint to FILE.")
@pass_settings
def checkpoint(
    settings: Settings, key_path: str | None, key_name: str | None, origin: str, out: str | None
) -> None:
    """Store a checkpoint of the log (origin, tree size, root hash, time) and print it in
    the C2SP tlog-checkpoint note format. Publish it where the database's owner cannot
    rewrite it: a ticket, a git repository, an email."""
    key = signing_key(key_path, key_name or origin)
    with settings.ledger() as ledger:
        try:
            made = ledger.log.checkpoint(key=key, origin=origin)
        except InvalidCheckpoint as e:
            raise click.BadParameter(str(e), param_hint="--origin") from None
    text = made.text()
    if out is not None:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise click.ClickException(f"cannot write {out}: {e.strerror or e}") from None
    sys.stdout.write(text)
    cp = made.checkpoint
    signed = ", ".join(s.key_name for s in made.signatures) or "unsigned"
    click.echo(f"checkpoint of {cp.size} events ({signed})", err=True)


@cli.command(
    epilog=examples(
        "deployledger verify",
        "deployledger verify --checkpoint published.txt --key ledger.key.pub",
    )
)
@click.option(
    "--checkpoint",
    "checkpoint_paths",
    multiple=True,
    metavar="FILE",
    help="Also check this published checkpoint (repeatable).",
)
@click.option(
    "--key", "key_paths", multiple=True, metavar="PUB", help="Check signatures by this key."
)
@click.option("--key-name", metavar="NAME", help=KEY_NAME_HELP)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@pass_settings
def verify(
    settings: Settings,
    checkpoint_paths: tuple[str, ...],
    key_paths: tuple[str, ...],
    key_name: str | None,
    as_json: bool,
) -> None:
    """Recompute the log from every event and check it against every stored checkpoint
    and each one given: exit 0 if intact, 1 if tampering is found (listed, with the
    position each change starts at), 2 on bad input."""
    given = [_checkpoint_file(p) for p in checkpoint_paths]
    keys = _verifier_keys(key_paths, key_name)
    with settings.ledger() as ledger:
        report = ledger.log.verify(given, keys=keys)
    if as_json:
        click.echo(json.dumps(_report_json(report, checkpoint_paths), indent=2))
    else:
        _print_report(report, checkpoint_paths)
    if not report.intact:
        sys.exit(EXIT_ERROR)


def _named(text: str, paths: tuple[str, ...]) -> str:
    """The service names given checkpoints "checkpoint N": name their files instead."""
    return re.sub(
        r"\bcheckpoint (\d+)\b",
        lambda m: f"checkpoint {paths[int(m[1]) - 1]}" if int(m[1]) <= len(paths) else m[0],
        text,
    )


def _source(source: str, paths: tuple[str, ...]) -> str:
    if source.startswith("checkpoint ") and source[11:].isdigit():
        return paths[int(source[11:]) - 1]
    return source


def _print_report(report: VerifyReport, paths: tuple[str, ...]) -> None:
    click.echo(
        f"log: {report.size} events through position {report.position}, root {_b64(report.root)}"
    )
    for check in report.checkpoints:
        mark = "ok" if check.ok else "FAILED"
        by = f", signed by {', '.join(check.signed_by)}" if check.signed_by else ""
        source = _source(check.source, paths)
        name = source if source.startswith("stored") else f"checkpoint {source}"
        click.echo(f"{render.safe(name)}: size {check.size}{by}: {mark}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.intact:
        checked = " and every checkpoint" if report.checkpoints else ""
        click.echo(f"intact: the events match the log{checked}")
        return
    click.echo(f"TAMPERED: {len(report.problems)} problems")
    for problem in report.problems:
        click.echo(f"  {render.safe(_named(str(problem), paths))}")


def _report_json(report: VerifyReport, paths: tuple[str, ...]) -> dict[str, object]:
    return {
        "intact": report.intact,
        "size": report.size,
        "position": report.position,
        "root": _b64(report.root),
        "checkpoints": [
            {
                "source": _source(c.source, paths),
                "origin": c.origin,
                "size": c.size,
                "root": _b64(c.root),
                "time": c.time.isoformat() if c.time else None,
                "signedBy": list(c.signed_by),
                "ok": c.ok,
            }
            for c in report.checkpoints
        ],
        "problems": [
            {
                "kind": p.kind,
                "position": p.position,
                "other": p.other,
                "detail": _named(p.detail, paths),
            }
            for p in report.problems
        ],
        "notes": list(report.notes),
    }


@cli.command(
    epilog=examples(
        "deployledger prove acme-prod 64f1c0ffee0000000000beef 3",
        "deployledger prove acme-prod 64f1c0ffee0000000000beef 3 --checkpoint cp.txt --json",
    )
)
@click.argument("tenant_id", metavar="TENANT")
@click.argument("workload_rt_id", metavar="RT_ID")
@click.argument("attempt", type=click.IntRange(min=1))
@click.option("--checkpoint", "checkpoint_path", metavar="FILE", help="Prove against this one.")
@click.option("--json", "as_json", is_flag=True, help="The proof as one JSON document.")
@pass_settings
def prove(
    settings: Settings,
    tenant_id: str,
    workload_rt_id: str,
    attempt: int,
    checkpoint_path: str | None,
    as_json: bool,
) -> None:
    """Print the inclusion proof of one attempt's event (its leaf, leaf index and audit
    path) against a checkpoint (default: the latest stored one)."""
    from deployledger import parse_checkpoint

    given = _checkpoint_file(checkpoint_path) if checkpoint_path else None
    with settings.ledger() as ledger:
        proof = ledger.log.prove(tenant_id, workload_rt_id, attempt, checkpoint=given)
    if as_json:
        click.echo(proof.to_json())
        return
    cp = parse_checkpoint(proof.checkpoint).checkpoint
    click.echo(
        f"attempt {proof.attempt} of {render.safe(tenant_id)}/{render.safe(workload_rt_id)}: "
        f"event at position {proof.position}"
    )
    click.echo(f"leaf index: {proof.index} of {proof.size}")
    click.echo(f"leaf:       {_b64(proof.leaf)}")
    click.echo(f"leaf hash:  {_b64(proof.leaf_hash)}")
    click.echo(f"audit path: {len(proof.path)} hashes, leaf level first")
    for digest in proof.path:
        click.echo(f"  {_b64(digest)}")
    click.echo(f"root:       {_b64(proof.root)} ({render.safe(cp.origin)}, size {cp.size})")
    click.echo("verified: the audit path leads from the leaf to the checkpoint's root")


@cli.command(
    "export-bundle",
    epilog=examples(
        "deployledger export-bundle --tenant acme-prod audit-acme.json",
        "deployledger export-bundle --tenant acme-prod --since 2026-10-01 q4.json",
    ),
)
@click.option("--tenant", "tenant_id", required=True, help="The tenant whose attempts to export.")
@click.option(
    "--since", metavar="WHEN", help="Recorded from this time: ISO-8601, or 90m, 24h, 7d ago."
)
@click.option("--until", metavar="WHEN", help="Recorded before this time.")
@click.option("--checkpoint", "checkpoint_path", metavar="FILE", help="Prove against this one.")
@click.argument("out", type=click.Path(dir_okay=False))
@pass_settings
def export_bundle(
    settings: Settings,
    tenant_id: str,
    since: str | None,
    until: str | None,
    checkpoint_path: str | None,
    out: str,
) -> None:
    """Write an offline audit bundle: the tenant's attempts in canonical form, their
    inclusion proofs, and the checkpoint they are proven against. `verify-bundle`
    checks it later with no database."""
    from deployledger import parse_checkpoint

    now = datetime.now(UTC)
    start, end = parse_when(since, now, "--since"), parse_when(until, now, "--until")
    given = _checkpoint_file(checkpoint_path) if checkpoint_path else None
    with settings.ledger() as ledger:
        text, count, newer = ledger.log.export_bundle(
            tenant_id, since=start, until=end, checkpoint=given
        )
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot write {out}: {e.strerror or e}") from None
    cp = parse_checkpoint(json.loads(text)["checkpoint"]).checkpoint
    click.echo(
        f"wrote {out}: {count} attempts of tenant {render.safe(tenant_id)}, proven against "
        f"the checkpoint of size {cp.size} (root {_b64(cp.root)})"
    )
    if newer:
        click.echo(
            f"left out {newer} newer attempts: make a checkpoint (`deployledger checkpoint`) "
            "to include them",
            err=True,
        )


@cli.command(
    "verify-bundle",
    epilog=examples(
        "deployledger verify-bundle audit-acme.json --key ledger.key.pub",
        "deployledger verify-bundle audit-acme.json --allow-unsigned   # contents only",
    ),
)
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option(
    "--key", "key_paths", multiple=True, metavar="PUB", help="Require a signature by this key."
)
@click.option("--key-name", metavar="NAME", help=KEY_NAME_HELP)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Without --key: check the contents only, and say that the signature was not checked.",
)
def verify_bundle_command(
    bundle: str, key_paths: tuple[str, ...], key_name: str | None, allow_unsigned: bool
) -> None:
    """Check an audit bundle offline (no database): every leaf, proof, the checkpoint and
    its signature by --key. Exit 0 and say what it proves, 1 if anything fails or no --key
    is given (unless --allow-unsigned), 2 on bad input."""
    from deployledger import verify_bundle

    if key_paths and allow_unsigned:
        raise click.UsageError("--key and --allow-unsigned exclude each other")
    if not key_paths and not allow_unsigned:
        click.echo(f"NOT VERIFIED: {UNSIGNED}", err=True)
        sys.exit(EXIT_ERROR)
    text = _read(bundle, "bundle")
    keys = _verifier_keys(key_paths, key_name)
    try:
        summary = verify_bundle(text, keys)
    except InvalidBundle as e:
        click.echo(f"NOT VERIFIED: {render.safe(str(e))}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(_proves(summary))
    if not key_paths:
        click.echo("the signature was NOT checked (--allow-unsigned): anyone could have made it")


UNSIGNED = (
    "no --key given, so the checkpoint's signature cannot be checked and anyone could have "
    "made this bundle: give --key PUB (the ledger's public key), or --allow-unsigned to check "
    "the contents only"
)


def _proves(s: BundleSummary) -> str:
    def when(value: datetime | None) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else "-"

    signed = f"signed by {', '.join(s.signed_by)}" if s.signed_by else "not signature-checked"
    return (
        f"verified: {s.attempts} attempts of tenant {render.safe(s.tenant)} "
        f"({s.workloads} workloads) recorded between {when(s.first)} and {when(s.last)}, "
        f"included in the log {render.safe(s.origin)} of size {s.size} with root "
        f"{_b64(s.root)}, {signed}"
    )
