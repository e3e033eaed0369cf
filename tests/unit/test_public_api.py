"""The public API: exactly what `deployledger` exports, and that it ships typed."""

from __future__ import annotations

import dataclasses
import importlib.resources
import inspect
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import deployledger
import deployledger.errors
from deployledger import (
    InvalidReport,
    InvalidStoreURL,
    Ledger,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
    WriteConflict,
)

ROOT = Path(__file__).resolve().parents[2]


def public_names(module: ModuleType) -> set[str]:
    """The module's public names, as `dir()` lists them (the package imports most of its
    names on first use: `getattr` imports each)."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), ModuleType)
    }


# The public API, written out: a removal or a rename must fail here first.
EXPORTED = [
    "FAILURE_CATEGORIES",
    "MAX_JSON_DEPTH",
    "Attempt",
    "AuditFilter",
    "AuditPage",
    "BundleSummary",
    "Checkpoint",
    "CheckpointCheck",
    "DayCount",
    "DeadLetter",
    "DeliveryStats",
    "DeployLedgerError",
    "DeploymentState",
    "FailureGroup",
    "GroupWriter",
    "IdempotencyConflict",
    "InclusionProof",
    "IntakeResult",
    "InvalidBundle",
    "InvalidCheckpoint",
    "InvalidKey",
    "InvalidQuery",
    "InvalidReport",
    "InvalidStoreURL",
    "Ledger",
    "LifecycleEntry",
    "LogCorrupt",
    "LogError",
    "Overdue",
    "Problem",
    "ProjectionBehind",
    "RebuildFailed",
    "RebuildResult",
    "Receipt",
    "ReclassifyResult",
    "SchemaMissing",
    "SignedCheckpoint",
    "SigningKey",
    "Sink",
    "SinkFilter",
    "StoreMisconfigured",
    "StoreServer",
    "StoreURL",
    "StoreUnavailable",
    "Tampering",
    "TokenGrant",
    "TokenNotFound",
    "VerifierKey",
    "VerifyReport",
    "WorkloadDeployed",
    "WorkloadDeploymentProgress",
    "WorkloadDeploymentStatus",
    "WorkloadNotFound",
    "WorkloadState",
    "WorkloadUndeployed",
    "WriteConflict",
    "check_limit",
    "cloudevents_intake",
    "flux_intake",
    "generate_key",
    "load_signing_key",
    "load_verifier_key",
    "nested_too_deep",
    "parse_checkpoint",
    "parse_duration",
    "parse_message",
    "parse_messages",
    "parse_report",
    "parse_when",
    "verify_bundle",
]

LEDGER_METHODS = {
    "sinks": "property",
    "audit": (
        "(self, *, where: AuditFilter | None = None, tenant_id: str | None = None, "
        "pool_name: str | None = None, "
        "workload_name: str | None = None, workload_rt_id: str | None = None, "
        "since: datetime | timedelta | None = None, until: datetime | None = None, "
        "success: bool | None = None, grep: str | None = None, limit: int = 50, "
        "cursor: str | None = None, category: str | None = None, "
        "fingerprint: str | None = None) -> AuditPage"
    ),
    "audit_csv": (
        "(self, *, where: AuditFilter | None = None, "
        "tenant_id: str | Sequence[str] | None = None, pool_name: str | None = None, "
        "workload_name: str | None = None, workload_rt_id: str | None = None, "
        "since: datetime | timedelta | None = None, until: datetime | None = None, "
        "success: bool | None = None, grep: str | None = None, category: str | None = None, "
        "fingerprint: str | None = None) -> Iterator[bytes]"
    ),
    "audit_iter": (
        "(self, *, where: AuditFilter | None = None, "
        "tenant_id: str | Sequence[str] | None = None, pool_name: str | None = None, "
        "workload_name: str | None = None, workload_rt_id: str | None = None, "
        "since: datetime | timedelta | None = None, until: datetime | None = None, "
        "success: bool | None = None, grep: str | None = None, category: str | None = None, "
        "fingerprint: str | None = None) -> Iterator[Attempt]"
    ),
    "catch_up": "(self) -> int",
    "follow": (
        "(self, stop: threading.Event | None = None, *, poll_interval: float = 1.0, "
        "on_leader: Callable[[], None] | None = None, on_standby: Callable[[], "
        "None] | None = None, checkpoint_every: int | None = None, "
        "checkpoint_minutes: float | None = None, "
        "checkpoint_key: SigningKey | None = None, "
        "checkpoint_origin: str = deployledger, "
        "on_checkpoint: Callable[[SignedCheckpoint], None] | None = None, "
        "on_outage: Callable[[StoreUnavailable], None] | None = None) -> None"
    ),
    "checkpoint": (
        "(self, *, key: SigningKey | None = None, origin: str = deployledger) -> SignedCheckpoint"
    ),
    "checkpoints": ("(self) -> list[SignedCheckpoint]"),
    "verify": (
        "(self, checkpoints: Iterable[str | SignedCheckpoint] = (), *, "
        "keys: Iterable[VerifierKey] = ()) -> VerifyReport"
    ),
    "prove": (
        "(self, tenant_id: str, workload_rt_id: str, attempt: int, *, "
        "checkpoint: str | SignedCheckpoint | None = None) -> InclusionProof"
    ),
    "export_bundle": (
        "(self, tenant_id: str, *, since: datetime | None = None, "
        "until: datetime | None = None, "
        "checkpoint: str | SignedCheckpoint | None = None) -> tuple[str, int, int]"
    ),
    "close": "(self) -> None",
    "current": (
        "(self, tenant_id: str, workload_rt_id: str, *, at: datetime | None = None) "
        "-> WorkloadState | None"
    ),
    "get": (
        "(self, tenant_id: str, workload_rt_id: str, *, at: datetime | None = None) "
        "-> WorkloadState"
    ),
    "failures": (
        "(self, *, since: datetime | timedelta | None = None, "
        "tenant_id: str | Sequence[str] | None = None, pool: str | None = None, "
        "category: str | None = None, limit: int | None = 50) -> list[FailureGroup]"
    ),
    "history": (
        "(self, tenant_id: str, workload_rt_id: str, limit: int | None = None, "
        "before_attempt: int | None = None) -> list[Attempt]"
    ),
    "max_position": "(self) -> int",
    "store_server": "(self) -> StoreServer | None",
    "writer": (
        "(self, *, max_batch: int = 256, max_wait: float = 0.002, max_queue: int = 1024, "
        "on_commit: Callable[[int, float], None] | None = None) -> GroupWriter"
    ),
    "open": (
        "(url: str, *, create: bool | None = None, lock_timeout: float | None = None, "
        "connect_timeout: float | None = None, max_message_bytes: int | None = None, "
        "reject_oversized: bool = False, snapshot_interval: int = 200, cache_size: int = 1000, "
        "read_model_url: str | None = None, read_url: str | None = None, "
        "read_wait: float = 2.0) -> Ledger"
    ),
    "read_from": "property",
    "reading": "(self, min_position: int | None = None, *, wait: float | None = None) -> Ledger",
    "replica_lag": "(self) -> tuple[int, float] | None",
    "read_position": "(self) -> int",
    "rebuild": "(self, progress: Callable[[int, int], None] | None = None) -> RebuildResult",
    "overdue": (
        "(self, older_than: timedelta = datetime.timedelta(seconds=900), "
        "tenant_id: str | None = None, pool: str | None = None) -> list[Overdue]"
    ),
    "reclassify": "(self, *, force: bool = False) -> ReclassifyResult",
    "record": "(self, message: MessageInput) -> Receipt",
    "record_many": "(self, messages: Iterable[MessageInput]) -> list[Receipt]",
    "stats": (
        "(self, *, since: datetime | timedelta = datetime.timedelta(days=30), "
        "until: datetime | None = None, by: str = tenant, "
        "tenant_id: str | Sequence[str] | None = None, pool: str | None = None) "
        "-> list[DeliveryStats]"
    ),
    "timeline": (
        "(self, tenant_id: str, workload_rt_id: str, limit: int | None = None) "
        "-> list[TimelineEntry]"
    ),
    "log": "property",
    "tokens": "property",
    "url": "property",
    "wait_for": "(self, position: int, timeout: float = 10.0) -> None",
    "workloads": (
        "(self, tenant_id: str | Sequence[str] | None = None, pool_name: str | None = None, "
        "state: DeploymentState | str | None = None, *, at: datetime | None = None) "
        "-> list[WorkloadState]"
    ),
}

ERROR_TREE = {
    "DeployLedgerError": "Exception",
    "InvalidReport": "DeployLedgerError",
    "IdempotencyConflict": "InvalidReport",
    "InvalidStoreURL": "DeployLedgerError",
    "InvalidQuery": "DeployLedgerError",
    "SchemaMissing": "DeployLedgerError",
    "StoreMisconfigured": "DeployLedgerError",
    "StoreUnavailable": "DeployLedgerError",
    "WriteConflict": "StoreUnavailable",
    "WorkloadNotFound": "DeployLedgerError",
    "TokenNotFound": "DeployLedgerError",
    "ProjectionBehind": "DeployLedgerError",
    "RebuildFailed": "DeployLedgerError",
    "LogError": "DeployLedgerError",
    "InvalidCheckpoint": "LogError",
    "InvalidKey": "LogError",
    "InvalidBundle": "LogError",
    "LogCorrupt": "LogError",
}

ANSWER_FIELDS = {
    "Receipt": "tenant_id workload_rt_id attempt position recorded_at state duplicate kind "
    "message_truncated",
    "WorkloadState": (
        "tenant_id workload_rt_id workload_name pool_name state status_message attempts "
        "failures consecutive_failures last_attempt_at last_success_at last_failure_at "
        "pool_rt_id workload_type deployed_chart_name deployed_chart_version "
        "pending_chart_name pending_chart_version requested_at last_duration undeployed_at"
    ),
    "Attempt": (
        "tenant_id workload_rt_id attempt recorded_at reported_at success state "
        "status_message workload_name pool_name message_id position message_truncated "
        "chart_name chart_version request_position duration helm_operation exit_code "
        "category fingerprint"
    ),
    "LifecycleEntry": (
        "kind tenant_id workload_rt_id position recorded_at reported_at workload_name "
        "message_id pool_rt_id workload_type chart_name chart_version repository_url "
        "is_reconciliation ingress_enabled hostname receives_cluster_secrets secret_paths "
        "overrides values_digest values_changed message message_truncated"
    ),
    "Overdue": (
        "tenant_id workload_rt_id workload_name pool_name pool_rt_id chart_name "
        "chart_version requested_at age progress_message"
    ),
    "AuditPage": "items next_cursor",
    "DayCount": "day successes failures",
    "DeliveryStats": (
        "by key name since until successes failures deployment_frequency "
        "change_failure_rate recoveries recovery_median recovery_p90 unrecovered "
        "duration_median duration_p90 overdue days"
    ),
    "TokenGrant": "token_id name tenants admin scopes created_at revoked_at",
    "RebuildResult": "events position workloads attempts",
    "FailureGroup": (
        "fingerprint category template attempts workloads still_failing tenants pools "
        "first_seen last_seen example example_tenant_id example_workload_rt_id"
    ),
    "ReclassifyResult": "previous_version version examined changed",
}


def signature_text(member: object) -> str:
    return str(inspect.signature(member)).replace("'", "")  # type: ignore[arg-type]


class TestExportedMembers:
    def test_the_package_exports_exactly_the_written_list(self) -> None:
        assert deployledger.__all__ == EXPORTED

    def test_all_lists_exactly_the_public_names_of_the_package(self) -> None:
        assert set(deployledger.__all__) == public_names(deployledger)

    def test_every_exported_name_resolves(self) -> None:
        for name in EXPORTED:
            assert getattr(deployledger, name) is not None


class TestLedger:
    def test_the_public_methods_of_ledger_are_exactly_the_written_ones(self) -> None:
        found = {name for name in dir(Ledger) if not name.startswith("_")}
        assert found == set(LEDGER_METHODS)

    @pytest.mark.parametrize("name", sorted(LEDGER_METHODS))
    def test_each_method_keeps_its_signature(self, name: str) -> None:
        member = inspect.getattr_static(Ledger, name)
        if isinstance(member, property):
            assert LEDGER_METHODS[name] == "property"
        else:
            assert signature_text(getattr(Ledger, name)) == LEDGER_METHODS[name]

    def test_the_url_property_is_the_exported_store_url_type(self) -> None:
        assert inspect.get_annotations(Ledger.url.fget)["return"] == "StoreURL"  # type: ignore[attr-defined]


class TestErrors:
    def test_every_exported_exception_is_in_the_written_tree(self) -> None:
        errors = {
            name
            for name in EXPORTED
            if isinstance(getattr(deployledger, name), type)
            and issubclass(getattr(deployledger, name), BaseException)
        }
        assert errors == set(ERROR_TREE)

    @pytest.mark.parametrize("name", sorted(ERROR_TREE))
    def test_each_error_has_its_written_parent(self, name: str) -> None:
        error = getattr(deployledger, name)
        assert error.__bases__[0].__name__ == ERROR_TREE[name]

    def test_the_tree_is_drawn_in_the_docstring_of_errors(self) -> None:
        doc = deployledger.errors.__doc__ or ""
        for name in ERROR_TREE:
            assert name in doc

    def test_the_error_hierarchy_marks_what_is_retryable(self) -> None:
        assert issubclass(WriteConflict, StoreUnavailable)
        assert not issubclass(InvalidReport, StoreUnavailable)
        assert not issubclass(SchemaMissing, StoreUnavailable)
        assert not issubclass(StoreMisconfigured, StoreUnavailable)
        assert issubclass(InvalidReport, ValueError)
        assert issubclass(InvalidStoreURL, ValueError)


class TestAnswerTypes:
    @pytest.mark.parametrize("name", sorted(ANSWER_FIELDS))
    def test_each_answer_type_keeps_its_fields_in_order(self, name: str) -> None:
        fields = [f.name for f in dataclasses.fields(getattr(deployledger, name))]
        assert fields == ANSWER_FIELDS[name].split()

    @pytest.mark.parametrize("name", [*sorted(ANSWER_FIELDS), "StoreURL"])
    def test_answer_types_live_in_the_domain_not_the_store(self, name: str) -> None:
        assert getattr(deployledger, name).__module__.startswith("deployledger.domain.")


class TestTyping:
    def test_py_typed_is_in_the_package(self) -> None:
        marker = importlib.resources.files("deployledger").joinpath("py.typed")
        assert marker.is_file()

    def test_py_typed_is_declared_as_package_data(self) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        package_data = pyproject["tool"]["setuptools"]["package-data"]["deployledger"]
        assert "py.typed" in package_data
