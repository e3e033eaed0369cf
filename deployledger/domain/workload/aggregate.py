"""The `Workload` aggregate: one per (tenant, workload runtime id), one event per report.

Every event class has an explicit, stable `TOPIC`, so that renaming or moving
a class can never orphan stored events. Schema changes go through
`class_version` and `upcast_vN_vN+1` methods, as eventsourcing prescribes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from deployledger.domain.messages.inbox import Message
from deployledger.domain.messages.lifecycle import (
    WorkloadDeployed,
    WorkloadDeploymentProgress,
    WorkloadUndeployed,
)
from deployledger.domain.messages.reports import WorkloadDeploymentStatus
from deployledger.domain.workload.fold import fold_event, registered
from deployledger.domain.workload.state import DeploymentState

# Idempotency: the latest IDEMPOTENCY_WINDOW message ids of each workload are
# remembered (with the version of the event that recorded each); a message carrying one
# of them is answered as a duplicate.
IDEMPOTENCY_WINDOW = 10_000

_NAMESPACE = UUID("5b0f2c3e-8d7a-4e8e-9c1a-6f0de910c0de")


@lru_cache(maxsize=65_536)
def workload_id(tenant_id: str, workload_rt_id: str) -> UUID:
    """The aggregate id: a uuid5 of the (tenant id, runtime id) pair.

    The pair is JSON-encoded so that no choice of separator can make two
    different pairs collide.
    """
    return uuid5(_NAMESPACE, json.dumps([tenant_id, workload_rt_id], ensure_ascii=False))


class Workload(Aggregate):
    """Everything known about one workload, derived from its events alone."""

    TOPIC = "deployledger:Workload"

    class Event(Aggregate.Event):
        TOPIC = "deployledger:Workload.Event"
        # Every event of ours also has tenant_id, workload_rt_id, workload_name, message_id
        # and reported_at; each class declares them itself, so that the stored field order
        # of `DeploymentAttempted` stays what earlier releases wrote.
        KIND = ""

        @property
        def occurred_at(self) -> datetime:
            """When it happened: the sender's `reportedAt`, else the recording time."""
            reported: datetime | None = getattr(self, "reported_at", None)
            return reported or self.timestamp

        def same_as(self, message: Message) -> bool:
            """Whether `message` says exactly what this event recorded (a true resend)."""
            return same_as(self.KIND, vars(self), message)

        def state_after(self) -> DeploymentState:
            return state_after(self.KIND, vars(self))

    class Registered(Aggregate.Created):
        """The first event of every workload: who it is."""

        TOPIC = "deployledger:Workload.Registered"
        tenant_id: str
        workload_rt_id: str

    class DeploymentAttempted(Event):
        """One helm `upgrade --install` attempt, as the operator reported it."""

        TOPIC = "deployledger:Workload.DeploymentAttempted"
        tenant_id: str
        workload_rt_id: str
        workload_name: str
        pool_name: str | None
        success: bool
        status_message: str | None
        message_id: str | None
        reported_at: datetime | None
        message_truncated: bool

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Release 0.1.0 events: no message was ever cut (an oversized one was refused)."""
            state["message_truncated"] = False

        KIND = "outcome"

        def state_after(self) -> DeploymentState:
            return state_after(self.KIND, vars(self))

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._fold(self.KIND, vars(self), self.originator_version)

    class DeploymentRequested(Event):
        """The controller asked for `helm upgrade --install` (secrets never stored)."""

        TOPIC = "deployledger:Workload.DeploymentRequested"
        KIND = "request"
        tenant_id: str
        workload_rt_id: str
        workload_name: str
        pool_rt_id: str | None
        workload_type: str | None
        chart_name: str
        chart_version: str | None
        repository_url: str | None
        is_reconciliation: bool | None
        ingress_enabled: bool | None
        hostname: str | None
        receives_cluster_secrets: bool | None
        secret_paths: list[str]
        overrides: list[dict[str, str | None]]
        values_digest: str
        message_id: str | None
        reported_at: datetime | None

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._fold(self.KIND, vars(self), self.originator_version)

    class DeploymentProgressed(Event):
        """Live diagnostics from the operator while helm still runs."""

        TOPIC = "deployledger:Workload.DeploymentProgressed"
        KIND = "progress"
        tenant_id: str
        workload_rt_id: str
        workload_name: str
        message: str
        message_truncated: bool
        message_id: str | None
        reported_at: datetime | None

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._fold(self.KIND, vars(self), self.originator_version)

    class Undeployed(Event):
        """The controller asked for `helm uninstall`."""

        TOPIC = "deployledger:Workload.Undeployed"
        KIND = "undeploy"
        tenant_id: str
        workload_rt_id: str
        workload_name: str
        pool_rt_id: str | None
        workload_type: str | None
        message_id: str | None
        reported_at: datetime | None

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Workload)
            aggregate._fold(self.KIND, vars(self), self.originator_version)

        def state_after(self) -> DeploymentState:
            return state_after(self.KIND, vars(self))

    # The folded state (see `deployledger.domain.workload.fold`), set in `__init__`.
    workload_name: str | None
    pool_name: str | None
    state: int
    status_message: str | None
    attempts: int
    failures: int
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pool_rt_id: str | None
    workload_type: str | None
    deployed_chart_name: str | None
    deployed_chart_version: str | None
    pending_chart_name: str | None
    pending_chart_version: str | None
    requested_at: datetime | None
    last_duration: float | None
    undeployed_at: datetime | None
    request_version: int | None
    values_digest: str | None

    def __init__(self, tenant_id: str, workload_rt_id: str) -> None:
        self.tenant_id = tenant_id
        self.workload_rt_id = workload_rt_id
        vars(self).update(registered())
        # message id -> the version of the event that recorded it
        self.message_ids: dict[str, int] = {}

    @classmethod
    def register(cls, tenant_id: str, workload_rt_id: str) -> Workload:
        """Start the history of a workload never seen before."""
        return cls._create(
            cls.Registered,
            id=workload_id(tenant_id, workload_rt_id),
            tenant_id=tenant_id,
            workload_rt_id=workload_rt_id,
        )

    def version_for(self, message_id: str | None) -> int | None:
        """The version of the event that recorded `message_id`, if it is within the window."""
        if message_id is None:
            return None
        return self.message_ids.get(message_id)

    def record(self, message: Message) -> Event:
        """Append the event of one message. The caller checks for duplicates first."""
        assert (message.tenant_id, message.workload_rt_id) == (
            self.tenant_id,
            self.workload_rt_id,
        )
        if isinstance(message, WorkloadDeploymentStatus):
            self.trigger_event(
                self.DeploymentAttempted,
                tenant_id=message.tenant_id,
                workload_rt_id=message.workload_rt_id,
                workload_name=message.workload_name,
                pool_name=message.pool_name,
                success=message.success,
                status_message=message.status_message,
                message_id=message.message_id,
                reported_at=message.reported_at,
                message_truncated=message.message_truncated,
            )
        elif isinstance(message, WorkloadDeployed):
            self.trigger_event(self.DeploymentRequested, **message.stored_fields())
        elif isinstance(message, WorkloadDeploymentProgress):
            self.trigger_event(self.DeploymentProgressed, **message.stored_fields())
        else:
            assert isinstance(message, WorkloadUndeployed)
            self.trigger_event(self.Undeployed, **message.stored_fields())
        event = self.pending_events[-1]
        assert isinstance(event, Workload.Event)
        return event

    def append(self, message: Message) -> NewEvent:
        """Append the event of one message without building the event object: fold it
        into this workload, exactly as the event's `mutate()` would, and return what is
        to be stored. The caller checks for duplicates first.

        The bulk path of `record_many()`: the library would create, mutate and then encode
        one frozen event object per message, which costs more than the fold itself.
        """
        assert (message.tenant_id, message.workload_rt_id) == (
            self.tenant_id,
            self.workload_rt_id,
        )
        timestamp = Workload.Event.create_timestamp()
        if isinstance(message, WorkloadDeploymentStatus):
            kind = "outcome"
            fields: dict[str, Any] = {
                "timestamp": timestamp,
                "tenant_id": message.tenant_id,
                "workload_rt_id": message.workload_rt_id,
                "workload_name": message.workload_name,
                "pool_name": message.pool_name,
                "success": message.success,
                "status_message": message.status_message,
                "message_id": message.message_id,
                "reported_at": message.reported_at,
                "message_truncated": message.message_truncated,
            }
        else:
            kind = _kind(message)
            given = message.stored_fields()
            given["timestamp"] = timestamp
            fields = {name: given[name] for name in _STORED[kind]}
        version = self.version + 1
        self._fold(kind, fields, version)
        # What the library's `mutate()` does after `apply()`.
        self.version = version
        self.modified_on = timestamp
        return NewEvent(self.id, version, kind, fields)

    def _fold(self, kind: str, fields: Mapping[str, Any], version: int) -> None:
        """Apply one event, given as its stored fields, to this workload's state."""
        state = vars(self)
        at: datetime = fields.get("reported_at") or fields["timestamp"]
        fold_event(state, kind, fields, version=version, at=at)
        message_id: str | None = fields.get("message_id")
        if message_id is not None:
            window = self.message_ids
            window[message_id] = version
            if len(window) > IDEMPOTENCY_WINDOW:
                del window[next(iter(window))]


class NewEvent:
    """An event appended by `Workload.append()`: what the event object would hold, without
    the object. `fields` are the event's stored fields, in the class's field order
    (`timestamp` first), before encoding; the event store encodes them exactly as the
    library would encode the event object (`deployledger.store.events.compat.stored_state`)."""

    __slots__ = ("KIND", "fields", "originator_id", "originator_version")

    def __init__(
        self, originator_id: UUID, originator_version: int, kind: str, fields: dict[str, Any]
    ) -> None:
        self.originator_id = originator_id
        self.originator_version = originator_version
        self.KIND = kind
        self.fields = fields

    @property
    def event_class(self) -> type[Workload.Event]:
        return EVENT_CLASSES[self.KIND]

    @property
    def timestamp(self) -> datetime:
        stamp: datetime = self.fields["timestamp"]
        return stamp

    def state_after(self) -> DeploymentState:
        return state_after(self.KIND, self.fields)

    def same_as(self, message: Message) -> bool:
        return same_as(self.KIND, self.fields, message)

    def to_event(self) -> Workload.Event:
        """The event object the library would have built (for tests and fakes)."""
        return self.event_class(
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            **self.fields,
        )


def state_after(kind: str, fields: Mapping[str, Any]) -> DeploymentState:
    """The state an event of `kind` with these fields leaves its workload in."""
    if kind == "outcome":
        return DeploymentState.after_attempt(fields["success"])
    if kind == "undeploy":
        return DeploymentState.UNDEPLOYED
    return DeploymentState.PENDING


def same_as(kind: str, fields: Mapping[str, Any], message: Message) -> bool:
    """Whether `message` says exactly what the event of `kind` with these stored fields
    recorded (a true resend)."""
    if kind == "outcome":
        return (
            isinstance(message, WorkloadDeploymentStatus)
            and fields["workload_name"] == message.workload_name
            and fields["pool_name"] == message.pool_name
            and fields["success"] == message.success
            and fields["status_message"] == message.status_message
            and fields["reported_at"] == message.reported_at
        )
    stored = getattr(message, "stored_fields", None)
    if stored is None or _kind(message) != kind:
        return False
    return all(fields.get(k) == v for k, v in stored().items())


def _kind(message: Message) -> str:
    if isinstance(message, WorkloadDeploymentStatus):
        return "outcome"
    if isinstance(message, WorkloadDeployed):
        return "request"
    if isinstance(message, WorkloadDeploymentProgress):
        return "progress"
    return "undeploy"


EVENT_CLASSES: dict[str, type[Workload.Event]] = {
    "outcome": Workload.DeploymentAttempted,
    "request": Workload.DeploymentRequested,
    "progress": Workload.DeploymentProgressed,
    "undeploy": Workload.Undeployed,
}
# Kind -> the event's stored fields (all but its id and version), in the class's order.
_STORED: dict[str, tuple[str, ...]] = {
    kind: tuple(
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in ("originator_id", "originator_version")
    )
    for kind, cls in EVENT_CLASSES.items()
}

# Event topic -> kind, for readers of stored events.
KIND_OF_TOPIC = {
    "deployledger:Workload.DeploymentAttempted": "outcome",
    "deployledger:Workload.DeploymentRequested": "request",
    "deployledger:Workload.DeploymentProgressed": "progress",
    "deployledger:Workload.Undeployed": "undeploy",
}
