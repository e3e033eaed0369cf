"""The tamper-evident log through the installed CLI: keygen, checkpoint, publish, tamper,
verify (exit 0 / 1 / 2), prove, export-bundle and verify-bundle in a fresh process with no
database at all."""

from __future__ import annotations

import base64
import json
import signal
import stat
import time
from pathlib import Path

import pytest
from logsupport import event_rows, events_table, execute, root_from_rows
from support import EXAMPLE_RT_ID, EXAMPLE_TENANT, EXAMPLES, Cli, spawn, sqlite_only


@pytest.fixture
def keys(tmp_path: Path, cli: Cli) -> tuple[Path, Path]:
    private = tmp_path / "ledger.key"
    out = cli("keygen", "--name", "ledger.example/prod", private).out
    assert "ledger.example/prod+" in out
    return private, Path(f"{private}.pub")


@pytest.fixture
def published(recorded: str, cli: Cli, keys: tuple[Path, Path], tmp_path: Path) -> Path:
    """The examples recorded, and a signed checkpoint written out as a publisher would."""
    private, _ = keys
    result = cli("checkpoint", "--key", private, "--origin", "ledger.example/prod", store=recorded)
    path = tmp_path / "published.txt"
    path.write_text(result.out, encoding="utf-8")
    return path


class TestKeygen:
    def test_writes_a_private_key_only_its_owner_reads(
        self, keys: tuple[Path, Path], cli: Cli
    ) -> None:
        private, public = keys
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert private.read_text().startswith("PRIVATE+KEY+ledger.example/prod+")
        assert public.read_text().startswith("ledger.example/prod+")

    def test_never_overwrites_without_force(self, keys: tuple[Path, Path], cli: Cli) -> None:
        private, _ = keys
        before = private.read_text()
        result = cli("keygen", private, expect=2)
        assert "exists" in result.err
        assert private.read_text() == before
        cli("keygen", "--force", private)
        assert private.read_text() != before


class TestCheckpointAndVerify:
    def test_the_checkpoint_is_a_signed_note(self, published: Path, recorded: str) -> None:
        text = published.read_text()
        body, _, signature = text.partition("\n\n")
        origin, size, root, stamp = body.split("\n")
        assert origin == "ledger.example/prod"
        assert int(size) == len(event_rows(recorded))
        assert root == base64.b64encode(root_from_rows(event_rows(recorded))).decode()
        assert stamp.startswith("time ")
        assert signature.startswith("\u2014 ledger.example/prod ")

    def test_intact_history_verifies(
        self, published: Path, recorded: str, keys: tuple[Path, Path], cli: Cli
    ) -> None:
        _, public = keys
        result = cli("verify", "--checkpoint", published, "--key", public, store=recorded)
        assert "intact" in result.out
        assert "signed by ledger.example/prod" in result.out

    def test_tampering_exits_1_and_names_the_position(
        self, published: Path, recorded: str, keys: tuple[Path, Path], cli: Cli
    ) -> None:
        _, public = keys
        table, pos = events_table(recorded)
        target = execute(
            recorded,
            "SELECT position FROM deployment_attempts WHERE tenant_id = ? AND "
            "workload_rt_id = ? AND success = ? ORDER BY position LIMIT 1",
            (EXAMPLE_TENANT, EXAMPLE_RT_ID, False),
        )[0][0]
        state = bytes(
            execute(recorded, f"SELECT state FROM {table} WHERE {pos} = ?", (target,))[0][0]
        )
        forged = state.replace(b"Error", b"Fine!", 1)
        assert forged != state
        execute(recorded, f"UPDATE {table} SET state = ? WHERE {pos} = ?", (forged, target))
        execute(recorded, "DELETE FROM log_checkpoints")  # the owner hides the stored ones too

        result = cli("verify", "--checkpoint", published, "--key", public, store=recorded, expect=1)

        assert "TAMPERED" in result.out
        assert f"altered    position {target}" in result.out
        data = cli("verify", "--json", "--checkpoint", published, store=recorded, expect=1).json()
        assert {"kind": "altered", "position": target} in [
            {"kind": p["kind"], "position": p["position"]} for p in data["problems"]
        ]
        assert data["intact"] is False

    @sqlite_only()
    def test_bad_input_exits_2(
        self, published: Path, recorded: str, keys: tuple[Path, Path], cli: Cli, tmp_path: Path
    ) -> None:
        _private, public = keys
        missing = cli("verify", "--checkpoint", tmp_path / "nope.txt", store=recorded, expect=2)
        assert "cannot read" in missing.err
        garbage = tmp_path / "garbage.txt"
        garbage.write_text("not a checkpoint\n")
        assert cli("verify", "--checkpoint", garbage, store=recorded, expect=2).err
        assert cli("verify", "--key", garbage, store=recorded, expect=2).err
        assert cli("checkpoint", "--key", public, store=recorded, expect=2).err  # not private
        assert cli("checkpoint", "--origin", "", store=recorded, expect=2).err

    def test_a_rebuild_repairs_emptied_log_tables(
        self, published: Path, recorded: str, cli: Cli
    ) -> None:
        execute(recorded, "DELETE FROM log_leaves")
        execute(recorded, "DELETE FROM log_state")
        broken = cli("verify", "--checkpoint", published, store=recorded, expect=1)
        assert "log" in broken.out
        assert "rebuild" in broken.out
        cli("rebuild", store=recorded)
        assert "intact" in cli("verify", "--checkpoint", published, store=recorded).out


class TestProveAndBundles:
    def test_prove_prints_a_checked_proof(self, published: Path, recorded: str, cli: Cli) -> None:
        text = cli("prove", EXAMPLE_TENANT, EXAMPLE_RT_ID, "2", store=recorded).out
        assert "audit path:" in text
        assert "verified" in text
        proof = cli(
            "prove",
            EXAMPLE_TENANT,
            EXAMPLE_RT_ID,
            "2",
            "--checkpoint",
            published,
            "--json",
            store=recorded,
        ).json()
        assert proof["attempt"] == 2
        assert proof["checkpoint"] == published.read_text()
        unknown = cli("prove", EXAMPLE_TENANT, EXAMPLE_RT_ID, "99", store=recorded, expect=2)
        assert "no attempt 99" in unknown.err

    def test_a_bundle_verifies_offline_and_fails_after_any_edit(
        self,
        published: Path,
        recorded: str,
        keys: tuple[Path, Path],
        cli: Cli,
        tmp_path: Path,
    ) -> None:
        _, public = keys
        bundle = tmp_path / "bundle.json"
        written = cli("export-bundle", "--tenant", EXAMPLE_TENANT, bundle, store=recorded).out
        assert "attempts of tenant acme-prod" in written
        attempts = execute(
            recorded,
            "SELECT COUNT(*) FROM deployment_attempts WHERE tenant_id = ?",
            (EXAMPLE_TENANT,),
        )[0][0]
        offline = tmp_path / "auditor"
        offline.mkdir()
        ok = cli("verify-bundle", bundle, "--key", public, cwd=offline)
        assert f"verified: {attempts} attempts of tenant acme-prod" in ok.out
        assert "signed by ledger.example/prod" in ok.out
        assert list(offline.iterdir()) == []  # no database was made

        data = json.loads(bundle.read_text())
        entry = data["entries"][0]
        for field in ("leaf", "path"):
            edited = json.loads(bundle.read_text())
            value = edited["entries"][0][field]
            if field == "path":
                value[0] = value[0][:5] + ("A" if value[0][5] != "A" else "B") + value[0][6:]
            else:
                edited["entries"][0][field] = (
                    value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
                )
            bad = tmp_path / f"bad-{field}.json"
            bad.write_text(json.dumps(edited))
            for check in (["--allow-unsigned"], ["--key", public]):
                refused = cli("verify-bundle", bad, *check, cwd=offline, expect=1)
                assert "NOT VERIFIED" in refused.err
        assert entry["index"] >= 0

        unsigned = cli("verify-bundle", bundle, cwd=offline, expect=1)
        assert unsigned.err.startswith("NOT VERIFIED: no --key given, so the checkpoint's")
        assert unsigned.out == ""
        allowed = cli("verify-bundle", bundle, "--allow-unsigned", cwd=offline).lines()
        assert allowed[0].startswith(f"verified: {attempts} attempts of tenant acme-prod")
        assert allowed[-1] == (
            "the signature was NOT checked (--allow-unsigned): anyone could have made it"
        )
        both = cli("verify-bundle", bundle, "--allow-unsigned", "--key", public, expect=2)
        assert "--key and --allow-unsigned exclude each other" in both.err


@pytest.mark.slow
class TestFollowerCheckpoints:
    def test_the_follower_writes_a_checkpoint_every_n_events(
        self, store: str, cli: Cli, keys: tuple[Path, Path]
    ) -> None:
        private, public = keys
        cli("migrate", store=store)
        follower = spawn(  # a real process, stopped by a signal
            "project",
            "--follow",
            "--poll-interval",
            "0.1",
            "--checkpoint-every",
            "10",
            "--checkpoint-key",
            private,
            "--origin",
            "ledger.example/prod",
            store=store,
        )
        made = 0
        try:
            cli("record", EXAMPLES, store=store)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not made:
                made = execute(store, "SELECT COUNT(*) FROM log_checkpoints")[0][0]
                time.sleep(0.2)
        finally:
            follower.send_signal(signal.SIGTERM)
        stopped = follower.result(expect=None, timeout=60)
        assert stopped.code == 0, stopped.err
        assert made >= 1, stopped.err
        assert "checkpoint of" in stopped.err
        assert "intact" in cli("verify", "--key", public, store=store).out
