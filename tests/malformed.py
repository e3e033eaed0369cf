"""Malformed inputs for `deployledger record`, each with exactly one defect: broken JSON, a
wrong type, a missing field, an over-long or control-character id, a huge number, deep
nesting, or bytes that are not UTF-8 (`MALFORMED`, a hypothesis strategy of bytes).

The parser is fuzzed with them at unit level (tests/unit/test_record_fuzz.py) and the CLI
on both backends (tests/e2e/test_e2e_fuzz.py).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from support import report

REQUIRED = ["tenantId", "workloadName", "workloadRtId", "success"]
IDS = ["tenantId", "workloadName", "workloadRtId", "poolName", "messageId"]
WRONG = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.booleans(),
)
HUGE = st.sampled_from(["1e999", "-1e999", "9" * 5000, "1" + "0" * 400, "1e-999999"])
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(["\x7f", "\x9b"])


def base() -> dict[str, Any]:
    return report("rt-fuzz", tenant="t-fuzz", messageId="fuzz-1")


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    body = base()
    field = draw(st.sampled_from([*REQUIRED, "statusMessage", "reportedAt", "poolName"]))
    value: Any = draw(WRONG.filter(lambda v: not isinstance(v, str)))
    if field in ("poolName", "statusMessage", "reportedAt") and value is None:
        value = 1
    if field == "success" and isinstance(value, bool):
        value = "true"
    body[field] = value
    return json.dumps(body).encode()


@st.composite
def missing_field(draw: st.DrawFn) -> bytes:
    body = base()
    del body[draw(st.sampled_from(REQUIRED))]
    return json.dumps(body).encode()


@st.composite
def bad_id(draw: st.DrawFn) -> bytes:
    body = base()
    field = draw(st.sampled_from(IDS))
    if draw(st.booleans()):
        body[field] = "x" * draw(st.integers(257, 5000))
    else:
        text = draw(st.text(min_size=1, max_size=10).filter(lambda t: t.strip() == t != ""))
        at = draw(st.integers(0, len(text)))
        body[field] = text[:at] + draw(CONTROL) + text[at:]
    return json.dumps(body).encode()


@st.composite
def huge_number(draw: st.DrawFn) -> bytes:
    field = draw(st.sampled_from([*REQUIRED, "statusMessage", "messageId"]))  # keys base() has
    text = json.dumps(base())
    key = f'"{field}": '
    start = text.index(key) + len(key)
    end = start + len(json.dumps(base()[field]))
    return (text[:start] + draw(HUGE) + text[end:]).encode()


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1_000, 200_000))
    where = draw(st.sampled_from(["statusMessage", "success", "extra", "top"]))
    nested = (
        "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
    )
    if where == "top":
        return nested.encode()
    body = json.dumps(base())[:-1]
    return f'{body}, "{where}": {nested}}}'.encode()


@st.composite
def broken_json(draw: st.DrawFn) -> bytes:
    text = json.dumps(base())
    cut = draw(st.integers(1, len(text) - 1))
    how = draw(st.sampled_from(["truncate", "insert", "drop"]))
    if how == "truncate":
        return text[:cut].encode()
    if how == "insert":
        # Not a brace or bracket: those would split the input into several reports, each
        # with problems of its own (all listed), where this test wants one defect.
        broken = text[:cut] + draw(st.sampled_from(list(",:'x\\"))) + text[cut:]
    else:
        broken = text[: cut - 1] + text[cut:] if text[cut - 1] in '{}[]:,"' else "{"
    try:
        json.loads(broken)
    except ValueError:
        return broken.encode()
    return text[:cut].encode()  # the change happened to be valid JSON: cut the object short


@st.composite
def not_utf8(draw: st.DrawFn) -> bytes:
    text = json.dumps(base()).encode()
    cut = draw(st.integers(0, len(text)))
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80\x80"]))
    return text[:cut] + bad + text[cut:]


# Each kind of defect by name, and any of them.
DEFECTS: dict[str, st.SearchStrategy[bytes]] = {
    "broken-json": broken_json(),
    "wrong-type": wrong_type(),
    "missing-field": missing_field(),
    "bad-id": bad_id(),
    "huge-number": huge_number(),
    "deep-nesting": deep_nesting(),
    "not-utf8": not_utf8(),
}
MALFORMED = st.one_of(*DEFECTS.values())
