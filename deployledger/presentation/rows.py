"""What a workload's row says about it, the same in `status` and on the fleet page."""

from __future__ import annotations

from deployledger import DeploymentState, WorkloadState
from deployledger.presentation.categories import category_of
from deployledger.presentation.headline import summary


def reason(state: WorkloadState, width: int = 100) -> str:
    """Why a workload is in Error (the headline of its last message), or what its pending
    deploy says (the headline of its last progress message); "" otherwise."""
    if state.state not in (DeploymentState.ERROR, DeploymentState.PENDING):
        return ""
    return summary(state.status_message, width)


def failed_category(state: WorkloadState) -> str:
    """The failure category of a workload in Error (its last message's), else ""."""
    if state.state is not DeploymentState.ERROR:
        return ""
    return category_of(state.status_message)
