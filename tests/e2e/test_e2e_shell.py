"""What a shell user gets besides the commands: the version and tab completion."""

from __future__ import annotations

from importlib.metadata import version

from support import run_cli


def test_version_prints_the_installed_version() -> None:
    result = run_cli("--version")
    assert result.out.strip() == f"deployledger, version {version('deployledger')}"


def test_bash_completion_script_is_printed_and_completes_commands() -> None:
    script = run_cli(env={"_DEPLOYLEDGER_COMPLETE": "bash_source"})
    assert "_deployledger_completion()" in script.out
    words = run_cli(
        env={
            "_DEPLOYLEDGER_COMPLETE": "bash_complete",
            "COMP_WORDS": "deployledger au",
            "COMP_CWORD": "1",
        }
    )
    assert "plain,audit" in words.out.split()


def test_zsh_and_fish_completion_scripts_are_printed() -> None:
    for shell in ("zsh", "fish"):
        result = run_cli(env={"_DEPLOYLEDGER_COMPLETE": f"{shell}_source"})
        assert "deployledger" in result.out
