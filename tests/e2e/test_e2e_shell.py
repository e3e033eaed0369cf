"""What a shell user gets besides the commands: the version and tab completion."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from support import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_installed_version() -> None:
    result = run_cli("--version")
    assert result.out.strip() == f"deployledger, version {version('deployledger')}"


def test_the_installed_version_is_the_projects_and_has_a_changelog_section() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("deployledger") == declared == "0.3.0"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert sections == ["Unreleased", declared, "0.2.0", "0.1.0"]


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
