"""The docs hold: links resolve, the CLI reference names every command, the README's tour runs.

Links: every relative link of README.md, CHANGELOG.md and docs/*.md names a file that
exists, and its `#anchor` a heading of that file (GitHub's slugs). Commands: every command of
the click group, sub-commands included (`token create`), appears in docs/cli.md; every
migration, in the table of docs/operations.md. The tour:
the README's `console` blocks marked `<!-- docs-test: tour -->` run in this process against a
fresh SQLite store, each command with the exit code 0; the block marked `serve` runs in bash,
the service as a real process; the `python` block runs as it is.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from deployledger.cli import cli, main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!\\)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MARKER = re.compile(r"^<!-- docs-test: (\w+) -->$")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return re.sub(r"`[^`\n]*`", "", "\n".join(kept))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link: its text
    text = text.lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in {"L", "N"})
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated heading gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or heading is None:
            continue
        base = slug(heading.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:, ...
    ]


def broken(page: Path, target: str) -> str | None:
    file_part, _, anchor = target.partition("#")
    destination = (page.parent / file_part).resolve() if file_part else page
    if not destination.exists():
        return f"{page.name}: {target}: no such file"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{page.name}: {target}: no heading #{anchor} in {destination.name}"
    return None


class TestTheCheckerItself:
    def test_slugs_follow_githubs_rule(self) -> None:
        assert slug("The CLI") == "the-cli"
        assert slug("Output: `-o table|json`") == "output--o-tablejson"
        assert slug("The full export: `deployledger audit --all`") == (
            "the-full-export-deployledger-audit---all"
        )
        assert slug("Read model, audit and rebuild") == "read-model-audit-and-rebuild"
        assert slug("POST /v1/reports") == "post-v1reports"

    def test_a_link_inside_code_is_not_a_link(self) -> None:
        assert LINK.findall(prose("see `[x](nope.md)`\n```\n[y](nope.md)\n```\n[z](yes.md)")) == [
            "yes.md"
        ]

    def test_a_missing_file_or_heading_is_reported(self, tmp_path: Path) -> None:
        page = tmp_path / "page.md"
        page.write_text("# Title\n\n## Two words\n")
        assert broken(page, "#two-words") is None
        assert broken(page, "page.md#title") is None
        assert broken(page, "#three-words") is not None
        assert broken(page, "other.md") is not None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    problems = [p for t in relative_links(page) if (p := broken(page, t)) is not None]
    assert problems == []


def test_the_readme_links_every_docs_page() -> None:
    linked = {Path(t.partition("#")[0]).name for t in relative_links(README)}
    assert {p.name for p in DOCS.glob("*.md")} <= linked


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.read_text().splitlines()) <= 260


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        path = (*prefix, name)
        yield " ".join(path)
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def test_every_cli_command_is_in_the_cli_reference() -> None:
    reference = (DOCS / "cli.md").read_text()
    paths = list(command_paths(cli))
    assert {"record", "show", "token create", "token revoke"} <= set(paths)
    missing = [
        path
        for path in paths
        if not re.search(rf"(?m)(^\s+|deployledger |`){re.escape(path)}(?![\w-])", reference)
    ]
    assert missing == []


def test_every_migration_is_in_the_operations_table() -> None:
    revisions = sorted(
        p.name[:4] for p in (ROOT / "deployledger/migrations/versions").glob("[0-9]*.py")
    )
    listed = re.findall(r"(?m)^\| `(\d{4})` \|", (DOCS / "operations.md").read_text())
    assert len(revisions) >= 11
    assert listed == revisions


def marked_blocks(kind: str) -> list[list[str]]:
    """The fenced blocks right after `<!-- docs-test: KIND -->` in the README, as lines."""
    lines = README.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        marker = MARKER.match(line)
        if marker is None or marker.group(1) != kind:
            continue
        assert FENCE.match(lines[i + 1]), f"README line {i + 2}: a fenced block must follow"
        end = next(j for j in range(i + 2, len(lines)) if FENCE.match(lines[j]))
        blocks.append(lines[i + 2 : end])
    return blocks


def commands(block: list[str]) -> list[tuple[str, list[str]]]:
    """Each `$ command` of a console block, with the output lines shown after it."""
    found: list[tuple[str, list[str]]] = []
    for line in block:
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return found


def run_in_process(command: str) -> tuple[int, str, str]:
    words = shlex.split(command)
    assert words[0] == "deployledger", command
    assert not set(words) & {"|", ">", "&", "&&", ";"}, f"not a plain command: {command}"
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(words[1:])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue().decode(), err.getvalue().decode()


def test_the_readme_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tour = [c for block in marked_blocks("tour") for c in commands(block)]
    assert [c.split()[1] for c, _ in tour] == ["record", "show", "history", "status", "failures"]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DEPLOYLEDGER_STORE", f"sqlite:///{tmp_path / 'tour.db'}")
    for command, shown in tour:
        code, output, errors = run_in_process(command)
        assert code == 0, (command, errors)
        if shown:  # the output starts as shown (its first words: times and ages move)
            first = output.splitlines()[0] if output else ""
            assert first.split()[:2] == shown[0].split()[:2], (command, output)
            if shown[0] == shown[0].upper():  # a table's header: every column, as shown
                assert first.split() == shown[0].split(), (command, output)
            # A block's fields (`  label  value`): the labels shown, in the order printed.
            labels = block_labels(shown)
            assert labels == block_labels(output.splitlines())[: len(labels)], (command, output)


def block_labels(lines: list[str]) -> list[str]:
    """The labels of a key/value block's field lines (`  last measured   2m 42s`)."""
    return [
        line.strip().split("  ")[0] for line in lines if re.match(r"^  [a-z][a-z ]*[a-z]  ", line)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's example uses curl")
@pytest.mark.timeout(120)
def test_the_readme_serve_example_answers_as_shown(tmp_path: Path) -> None:
    (block,) = marked_blocks("serve")
    steps = commands(block)
    port = str(free_port())
    recorded = commands(marked_blocks("tour")[0])[0][0]  # the store as the tour left it
    script = ["set -euo pipefail", f"{recorded} >/dev/null"]
    for command, _ in steps:
        command = command.replace("8080", port)
        script.append(command)
        if command.endswith("&"):  # the service: wait until it listens, stop it at the end
            script.append("trap 'kill $!' EXIT")
            script.append(
                f"for _ in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:{port}/healthz"
                " && break; sleep 0.1; done"
            )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEPLOYLEDGER_STORE": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    shown = steps[-1][1][0].split(",…")[0]  # the shown answer, up to its ellipsis
    assert shown in done.stdout, (done.stdout, shown)


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = marked_blocks("python")
    monkeypatch.chdir(tmp_path)
    code = compile("\n".join(block), "README.md", "exec")
    exec(code, {"__name__": "readme_example"})
    assert (tmp_path / "ledger.db").exists()
