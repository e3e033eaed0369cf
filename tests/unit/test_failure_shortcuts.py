"""The failure rules' shortcut (issue 12): a pattern is searched only when a literal that
every one of its matches contains is in the text. Exact by construction, checked here:
hypothesis draws matches of every rule and mask pattern (each holds its literal), and texts
assembled from the rules' own fragments give the same category and template as the plain
search of each rule's alternation and every mask."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployledger.domain.insights import failures
from deployledger.domain.insights.failures import (
    RULES,
    UNKNOWN,
    categorize,
    required_literal,
    template,
)

PATTERNS = sorted({p for r in RULES for p in r.patterns} | {p for p, _ in failures._MASKS})
ALTERNATIONS = tuple(
    (r.category, re.compile("|".join(f"(?:{p})" for p in r.patterns))) for r in RULES
)


def plain_categorize(message: str | None) -> str:
    if not message:
        return UNKNOWN
    text = failures._scanned(message).lower()
    for category, pattern in ALTERNATIONS:
        if pattern.search(text):
            return category
    return UNKNOWN


def plain_masks(text: str) -> str:
    for pattern, replacement in failures._MASKS:
        text = re.sub(pattern, replacement, text)
    return text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), pattern=st.sampled_from(PATTERNS))
def test_every_match_of_a_pattern_holds_its_literal(data: st.DataObject, pattern: str) -> None:
    text = data.draw(st.from_regex(pattern))
    found = re.search(pattern, text)
    assert found is not None
    assert required_literal(pattern) in found.group(0)


def test_the_literals_are_long_where_the_searches_are_slow() -> None:
    assert required_literal(r"\bhook \S+ failed") == " failed"
    assert required_literal(r"\bnot ready\. status: ") == "not ready. status: "
    assert required_literal(r"(pre|post)-(install|upgrade) hooks failed") == " hooks failed"
    assert required_literal(r"\b\d+\b") == ""
    assert required_literal("(?i)denied") == ""  # case-folded: no exact literal
    assert required_literal("[unbalanced") == ""  # not a pattern: no shortcut


FRAGMENTS = st.sampled_from(
    [lit for r in RULES for p in r.patterns if (lit := required_literal(p))]
    + [
        "Error: UPGRADE FAILED: ",
        "helm upgrade --install api failed with exit code 1. stderr: ",
        "job migrate failed: BackoffLimitExceeded",
        'admission webhook "v.example.com" denied the request: no',
        "chart/templates/deployment.yaml:12:3",
        "lookup api.example.com",
        "https://charts.example.com/x",
        "name: api-5d8f9",
        "10.0.0.1:443",
        "2026-11-01T10:00:00Z",
        "\n",
        " ",
    ]
)
TEXTS = st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS)
def test_categories_and_templates_equal_the_plain_searches(text: str) -> None:
    assert categorize(text) == plain_categorize(text)
    wrapper, unmasked = failures.unmasked(text) if text else ("", "")
    plain = (plain_masks(unmasked).strip() or wrapper.strip())[: failures.MAX_TEMPLATE]
    assert template(text) == plain
