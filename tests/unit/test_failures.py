"""The failure rule table against its corpus, and the fingerprint properties."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployledger.domain.insights.failures import (
    CATEGORIES,
    RULES,
    RULES_VERSION,
    UNKNOWN,
    categorize,
    fingerprint,
    rules_digest,
    template,
)

CORPUS = Path(__file__).parent.parent / "data" / "helm_failures.jsonl"
# Bump together with RULES_VERSION: a rule or mask changed, so stored rows need
# `deployledger reclassify`.
PINNED = {1: "8aaead3ca5992423", 2: "a08da4488472ca2d"}


def corpus() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]


class TestCorpus:
    def test_the_corpus_has_at_least_60_messages_with_a_source_each(self) -> None:
        rows = corpus()
        assert len(rows) >= 60
        assert all(row["source"] and row["category"] in CATEGORIES for row in rows)

    def test_every_category_has_examples_in_the_corpus(self) -> None:
        assert {row["category"] for row in corpus()} == set(CATEGORIES)

    def test_every_corpus_message_gets_its_expected_category(self) -> None:
        rows = corpus()
        misses = [
            (row["category"], categorize(row["message"]), row["message"][:120])
            for row in rows
            if categorize(row["message"]) != row["category"]
        ]
        correct = 1 - len(misses) / len(rows)
        unknown = sum(categorize(row["message"]) == UNKNOWN for row in rows) / len(rows)
        print(f"\ncorpus: {len(rows)} messages, {correct:.1%} correct, {unknown:.1%} unknown")
        assert misses == []

    def test_matching_ignores_case(self) -> None:
        for row in corpus():
            assert categorize(row["message"].upper()) == row["category"]
            assert categorize(row["message"].lower()) == row["category"]


class TestRules:
    def test_rule_categories_are_unique_and_unknown_is_last(self) -> None:
        names = [r.category for r in RULES]
        assert len(names) == len(set(names))
        assert CATEGORIES[-1] == UNKNOWN
        assert UNKNOWN not in names

    def test_patterns_are_lower_case_as_they_match_the_lowered_message(self) -> None:
        for rule in RULES:
            for pattern in rule.patterns:
                letters = re.sub(r"\\.", "", pattern)  # escapes such as \S keep their case
                assert letters == letters.lower(), (rule.category, pattern)

    def test_the_rules_version_is_bumped_when_the_rules_change(self) -> None:
        assert PINNED.get(RULES_VERSION) == rules_digest(), (
            "RULES or the masks changed: bump RULES_VERSION and pin the new digest"
        )

    def test_a_root_cause_wins_over_the_atomic_rollback_that_reports_it(self) -> None:
        wrapped = (
            "Error: UPGRADE FAILED: release web failed, and has been rolled back due to atomic "
            'being set: cannot patch "web" with kind Deployment: field is immutable'
        )
        assert categorize(wrapped) == "immutable-field"
        assert categorize(wrapped.split(": cannot")[0]) == "atomic-rollback"

    def test_a_pod_level_cause_wins_over_the_wait_timeout(self) -> None:
        assert categorize("timed out waiting for the condition") == "wait-timeout"
        assert categorize("timed out waiting for the condition\nErrImagePull") == "image-pull"

    def test_empty_and_unmatched_messages_are_unknown(self) -> None:
        assert categorize(None) == UNKNOWN
        assert categorize("") == UNKNOWN
        assert categorize("something else went wrong") == UNKNOWN

    def test_a_huge_message_is_categorized_by_its_ends(self) -> None:
        noise = "x" * 2_000_000
        assert categorize(noise + "Error: UPGRADE FAILED: context deadline exceeded") == (
            "wait-timeout"
        )


# -- fingerprints ------------------------------------------------------------------------

# Kubernetes names; an English word after "namespace" or "release" ("namespace is") is
# not taken for a name, so the generated ones avoid the few such words.
names = st.from_regex(r"[a-z][a-z0-9]{2,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True).filter(
    lambda n: n not in {"the", "and", "not", "has", "was", "for"}
)
numbers = st.integers(min_value=0, max_value=10**9)
ips = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
hashes = st.binary(min_size=8, max_size=32).map(lambda b: "a1" + b.hex())
times = st.datetimes().map(lambda d: d.replace(microsecond=0).isoformat() + "Z")
durations = st.tuples(st.integers(1, 59), st.integers(0, 59)).map(lambda t: f"{t[0]}m{t[1]}s")

# Real helm error shapes with their variable parts as slots.
SHAPES = [
    'Error: UPGRADE FAILED: "{name}" has no deployed releases',
    'Error: UPGRADE FAILED: cannot patch "{name}" with kind Deployment: Deployment.apps '
    '"{name2}" is invalid: spec.selector: Invalid value: v1.LabelSelector{{MatchLabels:'
    'map[string]string{{"app":"{name}"}}}}: field is immutable',
    "Error: UPGRADE FAILED: release {name} failed, and has been rolled back due to atomic "
    "being set: timed out waiting for the condition",
    'Error: INSTALLATION FAILED: Kubernetes cluster unreachable: Get "https://{ip}:6443/'
    'version": dial tcp {ip}:6443: i/o timeout',
    "helm upgrade --install {name} failed with exit code {n}. stderr: Error: UPGRADE FAILED: "
    "another operation (install/upgrade/rollback) is in progress",
    "Error: INSTALLATION FAILED: resource Deployment/{name2}/{name} not ready. status: "
    "InProgress, message: Updated: {n}/{n2}\ncontext deadline exceeded",
    "pod {name}-{hash} in namespace {name2}: ImagePullBackOff since {time} ({duration})",
    'Error: INSTALLATION FAILED: chart "{name}" matching {n}.{n2}.0 not found in {name2} '
    "index. (try 'helm repo update')",
    "Error: UPGRADE FAILED: pre-upgrade hooks failed: job {name} failed: BackoffLimitExceeded",
]


T = TypeVar("T")


class Draw(Protocol):
    """`st.DrawFn` of a composite strategy, or `st.DataObject.draw`."""

    def __call__(self, strategy: st.SearchStrategy[T], /) -> T: ...


def fill(shape: str, draw: Draw) -> str:
    return shape.format(
        name=draw(names),
        name2=draw(names),
        n=draw(numbers),
        n2=draw(numbers),
        ip=draw(ips),
        hash=draw(hashes),
        time=draw(times),
        duration=draw(durations),
    )


# The upstream operator's operations (DESIGN.md "The outcome message"); {release} is a slot.
OPERATIONS = [
    "upgrade --install {release}",
    "upgrade --install --dry-run=server {release}",
    "repo add {release}",
    "repo update {release}",
]


def wrap(stderr: str, draw: Draw, operation: str | None = None) -> str:
    """`stderr` as the upstream operator reports it: `helm OPERATION failed with exit code N.
    stderr: STDERR`, with a drawn operation, release name and exit code."""
    chosen = operation or draw(st.sampled_from(OPERATIONS))
    code = draw(st.integers(min_value=-255, max_value=255))
    return f"helm {chosen.format(release=draw(names))} failed with exit code {code}. " + (
        f"stderr: {stderr}"
    )


@st.composite
def two_fillings(draw: st.DrawFn) -> tuple[str, str]:
    shape = draw(st.sampled_from(SHAPES))
    return fill(shape, draw), fill(shape, draw)


class TestFingerprints:
    @settings(max_examples=200, deadline=None)
    @given(two_fillings())
    def test_messages_that_differ_only_in_variable_parts_share_a_fingerprint(
        self, pair: tuple[str, str]
    ) -> None:
        first, second = pair
        assert template(first) == template(second)
        assert fingerprint(first) == fingerprint(second)

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_different_helm_errors_get_different_fingerprints(self, data: st.DataObject) -> None:
        found = {fingerprint(fill(shape, data.draw)) for shape in SHAPES}
        assert len(found) == len(SHAPES)

    def test_corpus_messages_of_different_categories_never_share_a_fingerprint(self) -> None:
        by_print: dict[str, set[str]] = {}
        for row in corpus():
            by_print.setdefault(fingerprint(row["message"]), set()).add(row["category"])
        assert all(len(categories) == 1 for categories in by_print.values())
        # The corpus holds a few forms of one problem (wrapped, bare, install, upgrade).
        assert len(by_print) >= len(corpus()) - 8

    def test_a_fingerprint_is_twelve_hex_digits_and_stable(self) -> None:
        value = fingerprint("Error: timed out waiting for the condition")
        assert len(value) == 12
        assert int(value, 16) >= 0
        assert value == fingerprint("Error: timed out waiting for the condition")

    def test_warnings_before_the_error_and_debug_lines_after_it_are_left_out(self) -> None:
        plain = "Error: UPGRADE FAILED: context deadline exceeded"
        noisy = (
            "WARNING: Kubernetes configuration file is group-readable.\n"
            + plain
            + "\nhelm.go:84: [debug] context deadline exceeded\nmain.main\n\t/x/y.go:12"
        )
        assert fingerprint(noisy) == fingerprint(plain)

    @settings(max_examples=200, deadline=None)
    @given(st.data())
    def test_the_operators_wrapper_is_left_out_so_wrapped_and_bare_errors_share_one(
        self, data: st.DataObject
    ) -> None:
        bare = fill(data.draw(st.sampled_from(SHAPES)), data.draw)
        wrapped = wrap(bare, data.draw)
        assert template(wrapped) == template(bare)
        assert fingerprint(wrapped) == fingerprint(bare)
        assert categorize(wrapped) == categorize(bare)

    @settings(max_examples=50, deadline=None)
    @given(st.data())
    def test_a_wrapper_around_an_empty_stderr_is_its_own_template(
        self, data: st.DataObject
    ) -> None:
        operation = data.draw(st.sampled_from(OPERATIONS))
        first, second = wrap("", data.draw, operation), wrap("", data.draw, operation)
        assert template(first) == template(second)
        assert template(first).startswith(f"helm {operation.split()[0]} ")
        assert fingerprint(first) != fingerprint("Error: timed out waiting for the condition")

    def test_wrapped_and_bare_corpus_errors_share_a_fingerprint(self) -> None:
        """Every corpus message in the operator's wrapper has the fingerprint of its bare
        error, and the wrapped lock-held error is grouped with its bare form."""
        wrapped = [r["message"] for r in corpus() if " failed with exit code " in r["message"]]
        assert len(wrapped) >= 2
        for message in wrapped:
            bare = message.split(" stderr: ", 1)[1]
            assert fingerprint(message) == fingerprint(bare)

    @pytest.mark.parametrize(
        "forms",
        [
            [
                "Error: UPGRADE FAILED: timed out waiting for the condition",
                "Error: INSTALLATION FAILED: timed out waiting for the condition",
                "Error: timed out waiting for the condition",
                "helm upgrade --install api failed with exit code 1. stderr: "
                "Error: UPGRADE FAILED: timed out waiting for the condition",
            ],
            [
                "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in "
                "progress",
                "Error: ROLLBACK FAILED: another operation (install/upgrade/rollback) is in "
                "progress",
            ],
        ],
    )
    def test_helms_action_prefix_names_no_cause_so_it_is_left_out(self, forms: list[str]) -> None:
        assert len({fingerprint(form) for form in forms}) == 1
        assert not template(forms[0]).startswith("Error: UPGRADE FAILED")

    @pytest.mark.parametrize("message", [None, ""])
    def test_an_empty_message_has_an_empty_template(self, message: str | None) -> None:
        assert template(message) == ""
