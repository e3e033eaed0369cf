"""deployledger: every helm deployment status report, kept as an immutable event.

The public API is what a controller embeds: `Ledger`, the models of the four lifecycle
messages (deploy request, progress, outcome report, undeploy), the answers it gives, and
the errors it raises (all under `DeployLedgerError`).
"""

# Only the errors (the standard library alone) are imported with the package: every other
# name is imported on first use (PEP 562), so that `import deployledger` and the CLI's
# `--version` and `--help` do not pay for the store (SQLAlchemy, psycopg), the messages'
# pydantic models or the log's cryptography. The names, their types and `dir()` are the same.
import importlib
import typing

from deployledger.errors import (
    DeployLedgerError,
    IdempotencyConflict,
    InvalidBundle,
    InvalidCheckpoint,
    InvalidKey,
    InvalidQuery,
    InvalidReport,
    InvalidStoreURL,
    LogCorrupt,
    LogError,
    Problem,
    ProjectionBehind,
    RebuildFailed,
    SchemaMissing,
    StoreMisconfigured,
    StoreUnavailable,
    TokenNotFound,
    WorkloadNotFound,
    WriteConflict,
)

if typing.TYPE_CHECKING:
    from deployledger.domain.arguments import check_limit, parse_duration, parse_when
    from deployledger.domain.auditfilter import AuditFilter
    from deployledger.domain.insights.failure_groups import FailureGroup, ReclassifyResult
    from deployledger.domain.insights.failures import CATEGORIES as FAILURE_CATEGORIES
    from deployledger.domain.insights.stats import DayCount, DeliveryStats
    from deployledger.domain.intake import IntakeResult, cloudevents_intake, flux_intake
    from deployledger.domain.messages.inbox import parse_message, parse_messages
    from deployledger.domain.messages.lifecycle import (
        WorkloadDeployed,
        WorkloadDeploymentProgress,
        WorkloadUndeployed,
    )
    from deployledger.domain.messages.nesting import MAX_JSON_DEPTH, nested_too_deep
    from deployledger.domain.messages.reports import WorkloadDeploymentStatus, parse_report
    from deployledger.domain.sinks import DeadLetter, Sink, SinkFilter
    from deployledger.domain.storeurl import StoreServer, StoreURL
    from deployledger.domain.tlog.bundle import BundleSummary, verify_bundle
    from deployledger.domain.tlog.checkpoints import (
        Checkpoint,
        SignedCheckpoint,
        SigningKey,
        VerifierKey,
        generate_key,
        load_signing_key,
        load_verifier_key,
        parse_checkpoint,
    )
    from deployledger.domain.tlog.report import (
        CheckpointCheck,
        InclusionProof,
        Tampering,
        VerifyReport,
    )
    from deployledger.domain.tokens import TokenGrant
    from deployledger.domain.workload.records import (
        Attempt,
        AuditPage,
        LifecycleEntry,
        Overdue,
        RebuildResult,
        Receipt,
        WorkloadState,
    )
    from deployledger.domain.workload.state import DeploymentState
    from deployledger.service.groupcommit import GroupWriter
    from deployledger.service.ledger import Ledger

# Each lazily imported name: (module, name in that module).
_LAZY: dict[str, tuple[str, str]] = {
    "check_limit": ("deployledger.domain.arguments", "check_limit"),
    "parse_duration": ("deployledger.domain.arguments", "parse_duration"),
    "parse_when": ("deployledger.domain.arguments", "parse_when"),
    "AuditFilter": ("deployledger.domain.auditfilter", "AuditFilter"),
    "FailureGroup": ("deployledger.domain.insights.failure_groups", "FailureGroup"),
    "ReclassifyResult": ("deployledger.domain.insights.failure_groups", "ReclassifyResult"),
    "FAILURE_CATEGORIES": ("deployledger.domain.insights.failures", "CATEGORIES"),
    "DayCount": ("deployledger.domain.insights.stats", "DayCount"),
    "DeliveryStats": ("deployledger.domain.insights.stats", "DeliveryStats"),
    "IntakeResult": ("deployledger.domain.intake", "IntakeResult"),
    "cloudevents_intake": ("deployledger.domain.intake", "cloudevents_intake"),
    "flux_intake": ("deployledger.domain.intake", "flux_intake"),
    "parse_message": ("deployledger.domain.messages.inbox", "parse_message"),
    "parse_messages": ("deployledger.domain.messages.inbox", "parse_messages"),
    "WorkloadDeployed": ("deployledger.domain.messages.lifecycle", "WorkloadDeployed"),
    "WorkloadDeploymentProgress": (
        "deployledger.domain.messages.lifecycle",
        "WorkloadDeploymentProgress",
    ),
    "WorkloadUndeployed": ("deployledger.domain.messages.lifecycle", "WorkloadUndeployed"),
    "MAX_JSON_DEPTH": ("deployledger.domain.messages.nesting", "MAX_JSON_DEPTH"),
    "nested_too_deep": ("deployledger.domain.messages.nesting", "nested_too_deep"),
    "WorkloadDeploymentStatus": (
        "deployledger.domain.messages.reports",
        "WorkloadDeploymentStatus",
    ),
    "parse_report": ("deployledger.domain.messages.reports", "parse_report"),
    "DeadLetter": ("deployledger.domain.sinks", "DeadLetter"),
    "Sink": ("deployledger.domain.sinks", "Sink"),
    "SinkFilter": ("deployledger.domain.sinks", "SinkFilter"),
    "StoreServer": ("deployledger.domain.storeurl", "StoreServer"),
    "StoreURL": ("deployledger.domain.storeurl", "StoreURL"),
    "BundleSummary": ("deployledger.domain.tlog.bundle", "BundleSummary"),
    "verify_bundle": ("deployledger.domain.tlog.bundle", "verify_bundle"),
    "Checkpoint": ("deployledger.domain.tlog.checkpoints", "Checkpoint"),
    "SignedCheckpoint": ("deployledger.domain.tlog.checkpoints", "SignedCheckpoint"),
    "SigningKey": ("deployledger.domain.tlog.checkpoints", "SigningKey"),
    "VerifierKey": ("deployledger.domain.tlog.checkpoints", "VerifierKey"),
    "generate_key": ("deployledger.domain.tlog.checkpoints", "generate_key"),
    "load_signing_key": ("deployledger.domain.tlog.checkpoints", "load_signing_key"),
    "load_verifier_key": ("deployledger.domain.tlog.checkpoints", "load_verifier_key"),
    "parse_checkpoint": ("deployledger.domain.tlog.checkpoints", "parse_checkpoint"),
    "CheckpointCheck": ("deployledger.domain.tlog.report", "CheckpointCheck"),
    "InclusionProof": ("deployledger.domain.tlog.report", "InclusionProof"),
    "Tampering": ("deployledger.domain.tlog.report", "Tampering"),
    "VerifyReport": ("deployledger.domain.tlog.report", "VerifyReport"),
    "TokenGrant": ("deployledger.domain.tokens", "TokenGrant"),
    "Attempt": ("deployledger.domain.workload.records", "Attempt"),
    "AuditPage": ("deployledger.domain.workload.records", "AuditPage"),
    "LifecycleEntry": ("deployledger.domain.workload.records", "LifecycleEntry"),
    "Overdue": ("deployledger.domain.workload.records", "Overdue"),
    "RebuildResult": ("deployledger.domain.workload.records", "RebuildResult"),
    "Receipt": ("deployledger.domain.workload.records", "Receipt"),
    "WorkloadState": ("deployledger.domain.workload.records", "WorkloadState"),
    "DeploymentState": ("deployledger.domain.workload.state", "DeploymentState"),
    "GroupWriter": ("deployledger.service.groupcommit", "GroupWriter"),
    "Ledger": ("deployledger.service.ledger", "Ledger"),
}


# Defined for the interpreter only: to mypy the package has exactly its imported names, so a
# misspelt one is still an error.
if not typing.TYPE_CHECKING:

    def __getattr__(name: str) -> typing.Any:
        try:
            module, attribute = _LAZY[name]
        except KeyError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # the next look-up is an ordinary one
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})


__all__ = [
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
