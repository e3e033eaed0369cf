"""deployledger: every helm deployment status report, kept as an immutable event.

The public API is what a controller embeds: `Ledger`, the models of the four lifecycle
messages (deploy request, progress, outcome report, undeploy), the answers it gives, and
the errors it raises (all under `DeployLedgerError`).
"""

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
from deployledger.domain.tlog.report import CheckpointCheck, InclusionProof, Tampering, VerifyReport
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
from deployledger.service.groupcommit import GroupWriter
from deployledger.service.ledger import Ledger

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
