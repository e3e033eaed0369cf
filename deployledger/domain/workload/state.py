"""Deployment state, mirroring the upstream `RtDeploymentStateEnum`."""

from __future__ import annotations

from enum import IntEnum


class DeploymentState(IntEnum):
    """The state of a workload's deployment. Values match the upstream enum."""

    UNDEPLOYED = 0
    PENDING = 1
    DEPLOYED = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The upstream name: `Undeployed`, `Pending`, `Deployed`, `Error`."""
        return self.name.capitalize()

    @classmethod
    def from_label(cls, text: str) -> DeploymentState:
        """Parse a state name, case-insensitively (`deployed`, `Error`, ...)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label.lower() for s in cls)
            raise ValueError(f"unknown state {text!r}; expected one of {names}") from None

    @classmethod
    def after_attempt(cls, success: bool) -> DeploymentState:
        """A helm attempt that exited cleanly leaves the workload Deployed, else Error."""
        return cls.DEPLOYED if success else cls.ERROR
