"""The `deployledger` command group, its settings, and the one place errors become exit codes.

Exit codes: 0 success; 2 invalid input or usage, or a store that cannot be used as
configured (fix it first); 3 store unavailable (a retry can succeed); 1 anything else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from deployledger import (
    DeployLedgerError,
    InvalidBundle,
    InvalidCheckpoint,
    InvalidKey,
    InvalidQuery,
    InvalidReport,
    InvalidStoreURL,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
    StoreURL,
)
from deployledger.cli import render

# The ledger (the store: SQLAlchemy, psycopg) is imported by the commands that open one, so
# that `--version`, `--help` and the commands without a store start without it.
if TYPE_CHECKING:
    from deployledger import Ledger

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Settings:
    def __init__(
        self,
        store: str,
        read_model: str | None,
        read_store: str | None = None,
        read_wait: float = 2.0,
    ) -> None:
        self.store = store
        self.read_model = read_model
        self.read_store = read_store
        self.read_wait = read_wait
        self.min_position: int | None = None  # a read command's --min-position

    @contextmanager
    def ledger(self, *, create: bool | None = False) -> Iterator[Ledger]:
        from deployledger import Ledger

        with Ledger.open(
            self.store,
            create=create,
            read_model_url=self.read_model,
            read_url=self.read_store,
            read_wait=self.read_wait,
        ) as ledger:
            yield ledger

    @contextmanager
    def reader(self) -> Iterator[Ledger]:
        """The ledger for a query: on the read store (if any) once it has reached
        `--min-position`, else on the primary (said on stderr)."""
        with self.ledger() as ledger:
            view = ledger.reading(self.min_position)
            if view.read_from != ledger.read_from:
                click.echo(
                    f"deployledger: note: the read store had not reached position "
                    f"{self.min_position} within {ledger.read_wait:g}s; read from the primary",
                    err=True,
                )
            yield view


pass_settings = click.make_pass_decorator(Settings)


def _keep_min_position(ctx: click.Context, _param: click.Parameter, value: int | None) -> None:
    ctx.ensure_object(Settings).min_position = value


def min_position_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--min-position N` on a query: read-your-writes through a read store."""
    return click.option(
        "--min-position",
        type=click.IntRange(min=0),
        metavar="N",
        expose_value=False,
        callback=_keep_min_position,
        help="See every event up to position N (a receipt's): with --read-store, wait up "
        "to --read-wait for the standby to reach it, else read from the primary.",
    )


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
@click.option(
    "--read-store",
    envvar="DEPLOYLEDGER_READ_STORE",
    metavar="URL",
    help="Send every query to this streaming standby of the (PostgreSQL) store; writes, "
    "project, rebuild, migrate and checkpoints stay on --store (env: DEPLOYLEDGER_READ_STORE).",
)
@click.option(
    "--read-wait",
    envvar="DEPLOYLEDGER_READ_WAIT",
    type=click.FloatRange(0, 3600),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a query with --min-position waits for the read store before it reads "
    "from the primary (env: DEPLOYLEDGER_READ_WAIT).",
)
@click.version_option(package_name="deployledger")
@click.pass_context
def cli(
    ctx: click.Context,
    store: str,
    read_model: str | None,
    read_store: str | None,
    read_wait: float,
) -> None:
    """Keep every helm deployment status report; answer what happened, and when."""
    ctx.obj = Settings(store, read_model, read_store, read_wait)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"deployledger: {render.safe(message)}", err=True)
    sys.exit(code)


def _usage_line(error: click.UsageError) -> str:
    """A usage error as one line: click's message, and where to find help."""
    message = " ".join(error.format_message().split()).removesuffix(".")
    command = error.ctx.command_path if error.ctx else "deployledger"
    return f"{message} (see {command} --help)"


def _scrubber(args: list[str]) -> Callable[[str], str]:
    """Remove the store's password from any text, whatever went wrong."""
    candidates = [a.split("=", 1)[-1] for a in args if "://" in a]
    import os

    for name in ("DEPLOYLEDGER_STORE", "DEPLOYLEDGER_READ_MODEL", "DEPLOYLEDGER_READ_STORE"):
        candidates.append(os.environ.get(name, ""))
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
        _fail(scrub(_usage_line(e)), EXIT_INVALID)
    except click.ClickException as e:
        message = " ".join(e.format_message().split())
        _fail(scrub(message), EXIT_INVALID if e.exit_code == 2 else EXIT_ERROR)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except (
        InvalidReport,
        InvalidStoreURL,
        InvalidQuery,
        SchemaMissing,
        StoreMisconfigured,
        InvalidCheckpoint,
        InvalidKey,
        InvalidBundle,
    ) as e:
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
