"""The `deployledger` command: an entry point over the public API only."""

from deployledger.cli.commands import cli, main

__all__ = ["cli", "main"]
