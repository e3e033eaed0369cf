"""The one dispatch from an event to its fold (`deployledger.domain.workload.fold.fold_event`), and
the aggregate and the projection going through it. No I/O."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deployledger.domain.workload import aggregate as workload
from deployledger.domain.workload import fold
from deployledger.domain.workload.fold import NO_REQUEST, fold_event, registered
from deployledger.domain.workload.kinds import EventKind
from deployledger.domain.workload.state import DeploymentState
from deployledger.projections import project

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
REQUEST = {
    "workload_name": "api",
    "pool_rt_id": "pool-1",
    "workload_type": "Application",
    "chart_name": "api-chart",
    "chart_version": "1.2.3",
    "values_digest": "sha256:aa",
}
OUTCOME = {"workload_name": "api", "pool_name": "p", "status_message": "boom"}


class TestFoldEvent:
    def test_an_outcome_closes_the_open_request_and_returns_what_it_learned(self) -> None:
        state = registered()
        fold_event(state, "request", REQUEST, version=2, at=AT)
        later = AT + timedelta(seconds=1.5)
        folded = fold_event(state, "outcome", {**OUTCOME, "success": True}, version=3, at=later)
        assert folded.correlation.chart_name == "api-chart"
        assert folded.correlation.request_version == 2
        assert folded.correlation.duration == 1.5
        assert state["deployed_chart_version"] == "1.2.3"
        assert state["state"] == DeploymentState.DEPLOYED

    def test_a_request_says_whether_its_values_changed(self) -> None:
        state = registered()
        assert fold_event(state, "request", REQUEST, version=2, at=AT).values_changed is None
        again = fold_event(state, "request", REQUEST, version=3, at=AT)
        assert again.values_changed is False
        other = {**REQUEST, "values_digest": "sha256:bb"}
        assert fold_event(state, "request", other, version=4, at=AT).values_changed is True

    def test_progress_and_undeploy_learn_nothing(self) -> None:
        state = registered()
        folded = fold_event(
            state, "progress", {"workload_name": "api", "message": "m"}, version=2, at=AT
        )
        assert folded.correlation is NO_REQUEST
        assert state["status_message"] == "m"
        fold_event(state, "request", REQUEST, version=3, at=AT)
        fold_event(state, "undeploy", {**REQUEST, "workload_type": None}, version=4, at=AT)
        assert state["state"] == DeploymentState.UNDEPLOYED
        assert state["workload_type"] == "Application"

    def test_failures_in_a_row_count_until_a_success(self) -> None:
        state = registered()
        for _ in range(3):
            fold_event(state, "outcome", {**OUTCOME, "success": False}, version=2, at=AT)
        assert state["consecutive_failures"] == 3
        fold_event(state, "outcome", {**OUTCOME, "success": True}, version=5, at=AT)
        assert (state["consecutive_failures"], state["failures"]) == (0, 3)

    @pytest.mark.parametrize("kind", ["registered", "deploy", ""])
    def test_a_kind_with_no_fold_is_refused(self, kind: str) -> None:
        with pytest.raises(ValueError, match="no fold"):
            fold_event(registered(), kind, {}, version=1, at=AT)

    def test_every_folded_kind_has_a_fold(self) -> None:
        fields: dict[str, Any] = {**REQUEST, **OUTCOME, "success": True, "message": "m"}
        for kind in EventKind:
            if kind is not EventKind.REGISTERED:
                fold_event(registered(), kind.word, fields, version=1, at=AT)


class TestOneDispatch:
    """The aggregate and the projection call `fold_event`, never a `fold_*` of their own."""

    @pytest.mark.parametrize("module", [workload, project])
    def test_no_caller_unpacks_events_into_the_fold_functions_itself(self, module: Any) -> None:
        source = inspect.getsource(module)
        assert "fold_event(" in source
        for name in ("fold_attempt", "fold_request", "fold_progress", "fold_undeploy"):
            assert name not in source, f"{module.__name__} calls {name} itself"

    def test_the_kind_words_are_the_aggregates_event_kinds(self) -> None:
        kinds = {cls.KIND for cls in workload.EVENT_CLASSES.values()}
        assert kinds == {k.word for k in EventKind if k is not EventKind.REGISTERED}
        assert set(workload.KIND_OF_TOPIC.values()) == kinds
        assert set(project.LIFECYCLE.values()) == kinds - {EventKind.OUTCOME.word}
        assert fold.FOLDED_FIELDS  # the fold still names what it owns
