"""The tamper-evident log on both backends: kept by the projection runner, checkpointed,
verified against tampering through raw SQL, proven, and bundled."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from logsupport import (
    event_rows,
    events_table,
    execute,
    fleet,
    leaf_hashes_from_rows,
    position_of,
    root_from_rows,
)
from support import is_sqlite, report

from deployledger import (
    InvalidCheckpoint,
    InvalidQuery,
    Ledger,
    LogError,
    generate_key,
    parse_checkpoint,
    verify_bundle,
)
from deployledger.domain.tlog.leaf import parse_leaf
from deployledger.domain.tlog.merkle import leaf_hash, verify_inclusion


def kinds(report_: object) -> list[tuple[str, int | None]]:
    return [(p.kind, p.position) for p in report_.problems]  # type: ignore[attr-defined]


class TestTheLogFollowsTheEvents:
    def test_the_stored_root_equals_one_computed_from_the_raw_rows(
        self, ready_url: str, ledger: Ledger
    ) -> None:
        url = ready_url
        for round_ in range(3):
            ledger.record_many(
                report(f"rt-{n}", messageId=f"m-{round_}-{n}", success=n % 2 == 0) for n in range(7)
            )
            ledger.catch_up()
            made = ledger.log.checkpoint()
            rows = event_rows(url)
            assert made.checkpoint.size == len(rows)
            assert made.checkpoint.root == root_from_rows(rows)

    def test_an_empty_store_checkpoints_the_empty_tree(self, ledger: Ledger) -> None:
        made = ledger.log.checkpoint()
        assert made.checkpoint.size == 0
        assert made.checkpoint.root.hex() == (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        assert ledger.log.verify().intact

    def test_position_gaps_are_passed_over(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as ledger:
            fleet(ledger, workloads=2, attempts=2)
            with gap(ready_url):
                fleet(ledger, workloads=2, attempts=2, tenant="t2")
            made = ledger.log.checkpoint()
            rows = event_rows(ready_url)
            assert [r[0] for r in rows] != list(range(1, len(rows) + 1))  # a real gap
            assert made.checkpoint.size == len(rows)
            assert made.checkpoint.root == root_from_rows(rows)
            assert ledger.log.verify().intact


@contextlib.contextmanager
def gap(url: str) -> Iterator[None]:
    """Skip ten positions before the events written inside, as a PostgreSQL sequence does
    after failed inserts (on SQLite: a placeholder row, deleted before the log sees it)."""
    if is_sqlite(url):
        top = execute(url, "SELECT MAX(rowid) FROM stored_events")[0][0]
        execute(
            url,
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, 'gap', 1, 'gap', x'')",
            (top + 10,),
        )
        yield
        execute(url, "DELETE FROM stored_events WHERE originator_id = 'gap'")
    else:
        execute(
            url,
            "SELECT setval('deployledger_events_notification_id_seq', "
            "(SELECT MAX(notification_id) FROM deployledger_events) + 10)",
        )
        yield


class TestVerifyFindsTampering:
    """After a checkpoint, change the history with raw SQL: verify names the change."""

    @pytest.fixture
    def store(self, ledger: Ledger) -> Ledger:
        fleet(ledger)
        ledger.log.checkpoint()
        assert ledger.log.verify().intact
        return ledger

    def test_an_altered_message(self, ready_url: str, store: Ledger) -> None:
        url = ready_url
        table, pos = events_table(url)
        target = position_of(url, "t1", "rt-1", 1)
        state = execute(url, f"SELECT state FROM {table} WHERE {pos} = ?", (target,))[0][0]
        forged = bytes(state).replace(b"boom", b"fine")
        assert forged != bytes(state)
        execute(url, f"UPDATE {table} SET state = ? WHERE {pos} = ?", (forged, target))

        result = store.log.verify()

        assert not result.intact
        assert ("altered", target) in kinds(result)
        assert ("checkpoint", target) in kinds(result)

    def test_a_deleted_event(self, ready_url: str, store: Ledger) -> None:
        url = ready_url
        table, pos = events_table(url)
        target = position_of(url, "t1", "rt-2", 2)
        execute(url, f"DELETE FROM {table} WHERE {pos} = ?", (target,))

        result = store.log.verify()

        assert ("deleted", target) in kinds(result)
        assert any(k == "checkpoint" for k, _ in kinds(result))

    def test_an_inserted_event(self, ready_url: str) -> None:
        with Ledger.open(ready_url) as ledger:
            fleet(ledger, attempts=2)
            with gap(ready_url):
                fleet(ledger, attempts=2, tenant="t2")
            ledger.log.checkpoint()
            rows = event_rows(ready_url)
            hole = next(a[0] + 1 for a, b in itertools.pairwise(rows) if b[0] > a[0] + 1)
            table, pos = events_table(ready_url)
            _, originator, _, topic, state = rows[0]
            forged_id = originator.hex() if is_sqlite(ready_url) else str(UUID(bytes=originator))
            execute(
                ready_url,
                f"INSERT INTO {table} ({pos}, originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?, ?)",
                (hole, forged_id, 99, topic, state),
            )

            result = ledger.log.verify()

            assert ("inserted", hole) in kinds(result)
            assert ("checkpoint", hole) in kinds(result)

    def test_two_events_states_swapped(self, ready_url: str, store: Ledger) -> None:
        url = ready_url
        table, pos = events_table(url)
        a, b = position_of(url, "t1", "rt-0", 2), position_of(url, "t1", "rt-1", 3)
        state_a = execute(url, f"SELECT state FROM {table} WHERE {pos} = ?", (a,))[0][0]
        state_b = execute(url, f"SELECT state FROM {table} WHERE {pos} = ?", (b,))[0][0]
        execute(url, f"UPDATE {table} SET state = ? WHERE {pos} = ?", (state_b, a))
        execute(url, f"UPDATE {table} SET state = ? WHERE {pos} = ?", (state_a, b))

        result = store.log.verify()

        assert ("reordered", a) in kinds(result)
        assert ("reordered", b) in kinds(result)
        moved = {p.position: p.other for p in result.problems if p.kind == "reordered"}
        assert moved == {a: b, b: a}

    def test_a_rewritten_checkpoint_row(self, ready_url: str, store: Ledger) -> None:
        url = ready_url
        fleet(store, tenant="t3", attempts=1)
        store.log.checkpoint()  # a later checkpoint that still matches
        first = execute(url, "SELECT note FROM log_checkpoints ORDER BY checkpoint_id")[0][0]
        lines = first.split("\n")
        lines[2] = "A" * 43 + "="  # another root
        execute(
            url,
            "UPDATE log_checkpoints SET note = ? WHERE checkpoint_id = "
            "(SELECT MIN(checkpoint_id) FROM log_checkpoints)",
            ("\n".join(lines),),
        )

        result = store.log.verify()

        problems = [p for p in result.problems if p.kind == "checkpoint"]
        assert problems
        assert "rewritten" in problems[0].detail
        assert [k for k, _ in kinds(result) if k != "checkpoint"] == []

    def test_a_rewritten_signed_checkpoint_fails_its_signature(
        self, ready_url: str, ledger: Ledger
    ) -> None:
        url = ready_url
        key = generate_key("ledger.example/prod")
        fleet(ledger)
        ledger.log.checkpoint(key=key, origin="ledger.example/prod")
        assert ledger.log.verify(keys=[key.verifier]).intact
        note = execute(url, "SELECT note FROM log_checkpoints")[0][0]
        lines = note.split("\n")
        lines[2] = "A" * 43 + "="  # another root, the signature line kept
        execute(url, "UPDATE log_checkpoints SET note = ?", ("\n".join(lines),))

        result = ledger.log.verify(keys=[key.verifier])

        assert any(p.kind == "checkpoint" and "signature" in p.detail for p in result.problems), (
            result.problems
        )

    def test_emptied_log_tables_are_reported_then_repaired_by_a_rebuild(
        self, ready_url: str, store: Ledger
    ) -> None:
        url = ready_url
        published = store.log.checkpoints()[-1].text()
        execute(url, "DELETE FROM log_leaves")
        execute(url, "DELETE FROM log_state")

        broken = store.log.verify([published])
        assert ("log", None) in kinds(broken)

        store.rebuild()
        repaired = store.log.verify([published])
        assert repaired.intact, repaired.problems
        assert all(c.ok for c in repaired.checkpoints)

    def test_deleted_leaf_rows_are_reported_then_repaired(
        self, ready_url: str, store: Ledger
    ) -> None:
        url = ready_url
        execute(url, "DELETE FROM log_leaves WHERE leaf_index = 3")

        broken = store.log.verify()
        assert any(k == "log" for k, _ in kinds(broken))
        assert not any(k in ("inserted", "altered", "deleted") for k, _ in kinds(broken))

        store.rebuild()
        assert store.log.verify().intact

    def test_an_altered_event_after_a_rebuild_still_fails_the_published_checkpoint(
        self, ready_url: str, store: Ledger
    ) -> None:
        url = ready_url
        published = store.log.checkpoints()[-1].text()
        table, pos = events_table(url)
        target = position_of(url, "t1", "rt-1", 1)
        state = execute(url, f"SELECT state FROM {table} WHERE {pos} = ?", (target,))[0][0]
        forged = bytes(state).replace(b"boom", b"fine")
        execute(url, f"UPDATE {table} SET state = ? WHERE {pos} = ?", (forged, target))
        execute(url, "DELETE FROM log_leaves")
        execute(url, "DELETE FROM log_state")
        execute(url, "DELETE FROM log_checkpoints")
        store.rebuild()  # launders the log tables: only the published checkpoint knows

        result = store.log.verify([published])

        assert [c.ok for c in result.checkpoints] == [False]
        assert any(p.kind == "checkpoint" for p in result.problems)


class TestCheckpoints:
    def test_a_signed_checkpoint_is_stored_and_verifies(self, ledger: Ledger) -> None:
        key = generate_key("ledger.example/prod")
        fleet(ledger, attempts=1)
        made = ledger.log.checkpoint(key=key, origin="ledger.example/prod")
        text = made.text()
        body, _, signature = text.partition("\n\n")
        assert body.split("\n")[:2] == ["ledger.example/prod", str(made.checkpoint.size)]
        assert signature.startswith("\u2014 ledger.example/prod ")
        assert parse_checkpoint(text) == made
        assert ledger.log.checkpoints() == [made]
        result = ledger.log.verify([text], keys=[key.verifier])
        assert result.intact
        assert all(c.signed_by == ("ledger.example/prod",) for c in result.checkpoints)

    def test_another_key_is_a_problem(self, ledger: Ledger) -> None:
        fleet(ledger, attempts=1)
        ledger.log.checkpoint(key=generate_key("a"), origin="a")
        result = ledger.log.verify(keys=[generate_key("a").verifier])
        assert not result.intact
        assert all(p.kind == "checkpoint" for p in result.problems)

    def test_a_bad_origin_stores_nothing(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidCheckpoint):
            ledger.log.checkpoint(origin="two\nlines")
        assert ledger.log.checkpoints() == []

    def test_a_published_checkpoint_of_a_longer_log_means_deleted_events(
        self, ready_url: str, ledger: Ledger
    ) -> None:
        url = ready_url
        fleet(ledger)
        published = ledger.log.checkpoint().text()
        table, pos = events_table(url)
        top = execute(url, f"SELECT MAX({pos}) FROM {table}")[0][0]
        execute(url, f"DELETE FROM {table} WHERE {pos} = ?", (top,))
        execute(url, "DELETE FROM log_checkpoints")

        result = ledger.log.verify([published])

        assert ("deleted", top) in kinds(result)
        assert any(p.kind == "checkpoint" and "deleted" in p.detail for p in result.problems)


class TestProofs:
    def test_a_proof_verifies_against_the_checkpoint(self, ready_url: str, ledger: Ledger) -> None:
        url = ready_url
        fleet(ledger)
        made = ledger.log.checkpoint()
        proof = ledger.log.prove("t1", "rt-1", 2)
        assert proof.position == position_of(url, "t1", "rt-1", 2)
        assert proof.size == made.checkpoint.size
        assert verify_inclusion(
            proof.index, proof.size, leaf_hash(proof.leaf), list(proof.path), made.checkpoint.root
        )
        hashes = leaf_hashes_from_rows(event_rows(url))
        assert hashes[proof.index] == leaf_hash(proof.leaf)
        assert parse_leaf(proof.leaf).position == proof.position
        assert json.loads(proof.to_json())["index"] == proof.index

    def test_an_attempt_newer_than_the_checkpoint_is_refused(self, ledger: Ledger) -> None:
        fleet(ledger, attempts=1)
        old = ledger.log.checkpoint()
        ledger.record(report("rt-0", tenant="t1", messageId="late"))
        with pytest.raises(LogError, match="newer than the checkpoint"):
            ledger.log.prove("t1", "rt-0", 2, checkpoint=old)
        assert ledger.log.prove("t1", "rt-0", 2, checkpoint=ledger.log.checkpoint()).attempt == 2

    def test_unknown_attempts_and_missing_checkpoints(self, ledger: Ledger) -> None:
        fleet(ledger, attempts=1)
        with pytest.raises(LogError, match="no checkpoint"):
            ledger.log.prove("t1", "rt-0", 1)
        ledger.log.checkpoint()
        with pytest.raises(InvalidQuery, match="no attempt 5"):
            ledger.log.prove("t1", "rt-0", 5)
        with pytest.raises(InvalidQuery):
            ledger.log.prove("t1", "rt-0", 0)


class TestBundles:
    def test_a_bundle_verifies_and_says_what_it_proves(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        key = generate_key("ledger.example/prod")
        fleet(ledger, workloads=3, attempts=3)
        fleet(ledger, workloads=2, attempts=2, tenant="other")
        ledger.log.checkpoint(key=key, origin="ledger.example/prod")
        text, count, newer = ledger.log.export_bundle("t1")
        assert (count, newer) == (9, 0)
        summary = verify_bundle(text, [key.verifier])
        assert (summary.tenant, summary.attempts, summary.workloads) == ("t1", 9, 3)
        assert summary.signed_by == ("ledger.example/prod",)
        assert summary.size == ledger.log.checkpoints()[-1].checkpoint.size

    def test_attempts_after_the_checkpoint_are_left_out(self, ledger: Ledger) -> None:
        fleet(ledger, attempts=1)
        ledger.log.checkpoint()
        ledger.record(report("rt-0", tenant="t1", messageId="late"))
        _, count, newer = ledger.log.export_bundle("t1")
        assert (count, newer) == (3, 1)
