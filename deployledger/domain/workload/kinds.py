"""The kinds of a workload's events: one name each, and the number the set-based rebuild
stages it under. Pure.

The aggregate's events and the read model's lifecycle rows name their kind by `word`
(`outcome`, `request`, `progress`, `undeploy`); the rebuild's SQL compares the numbers,
and writes every one of them from this enum, never as a literal.
"""

from __future__ import annotations

from enum import IntEnum


class EventKind(IntEnum):
    """What an event of a workload says. The values are the rebuild's staging codes."""

    REGISTERED = 0  # the workload's first event: who it is (folds nothing)
    OUTCOME = 1  # a helm attempt's outcome (`DeploymentAttempted`)
    REQUEST = 2  # a deploy request
    PROGRESS = 3  # a progress message while helm runs
    UNDEPLOY = 4  # an undeploy request

    @property
    def word(self) -> str:
        """The kind as events and lifecycle rows name it: `outcome`, `request`, ..."""
        return self.name.lower()

    @classmethod
    def of_word(cls, word: str) -> EventKind:
        return cls[word.upper()]


# The kinds of the lifecycle rows: everything folded but an outcome.
LIFECYCLE_KINDS = (EventKind.REQUEST, EventKind.PROGRESS, EventKind.UNDEPLOY)
# The kinds that carry a pool runtime id and workload type (a request, an undeploy).
PLACEMENT_KINDS = (EventKind.REQUEST, EventKind.UNDEPLOY)
# The kinds that open or close a request: the last of them before an outcome is the request
# the outcome closes, when it is a request.
REQUEST_EDGES = (EventKind.OUTCOME, EventKind.REQUEST, EventKind.UNDEPLOY)
# The kinds whose text is the workload's status message (an outcome's, a progress message).
MESSAGE_KINDS = (EventKind.OUTCOME, EventKind.PROGRESS)
