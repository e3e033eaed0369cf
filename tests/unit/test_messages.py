"""Oversized status messages: the middle is cut, the head and the tail (helm's error) kept."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from deployledger.domain.messages.truncation import cut_middle, utf8_size

TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300).map(
    lambda text: text * (2100 // len(text) + 1)  # always over the largest limit drawn
)


def marker_of(cut: str) -> re.Match[str]:
    found = re.search(
        r"\[deployledger: (\d+) bytes cut from the middle of (\d+) \(sha256 (\w+)\)\]", cut
    )
    assert found is not None
    return found


@given(message=TEXT, limit=st.integers(200, 2000))
def test_a_cut_message_fits_the_limit_and_keeps_the_head_and_the_tail(
    message: str, limit: int
) -> None:
    cut = cut_middle(message, limit)
    assert utf8_size(cut) <= limit
    marker = marker_of(cut)
    head, tail = cut[: cut.index("\n[deployledger:")], cut[cut.index(")]\n") + 3 :]
    assert message.startswith(head)
    assert message.endswith(tail)
    assert int(marker.group(1)) == utf8_size(message) - utf8_size(head) - utf8_size(tail)


@given(message=TEXT, limit=st.integers(200, 2000))
def test_the_marker_states_the_original_size_and_sha256(message: str, limit: int) -> None:
    marker = marker_of(cut_middle(message, limit))
    raw = message.encode("utf-8")
    assert int(marker.group(2)) == len(raw)
    assert marker.group(3) == hashlib.sha256(raw).hexdigest()


def test_the_error_at_the_end_of_helm_debug_output_survives() -> None:
    debug = "".join(f"client.go:{n}: [debug] waiting for resources\n" for n in range(50_000))
    message = debug + "Error: UPGRADE FAILED: timed out waiting for the condition"
    cut = cut_middle(message, 1024 * 1024)
    assert utf8_size(message) > 1024 * 1024
    assert cut.endswith("Error: UPGRADE FAILED: timed out waiting for the condition")
    assert cut.startswith("client.go:0: [debug]")
    assert utf8_size(cut) <= 1024 * 1024


def test_multibyte_characters_are_never_split() -> None:
    message = "é" * 1000 + "🚀" * 1000
    cut = cut_middle(message, 501)
    assert set(cut[: cut.index("\n[")]) == {"é"}
    assert set(cut[cut.index(")]\n") + 3 :]) == {"🚀"}
    cut.encode("utf-8")  # valid text: nothing half-cut


def test_a_message_within_the_limit_is_returned_as_it_is() -> None:
    assert cut_middle("héllo", 6) == "héllo"


def test_a_limit_too_small_for_the_marker_keeps_only_the_marker() -> None:
    cut = cut_middle("x" * 500, 10)
    assert cut.strip().startswith("[deployledger: 500 bytes cut")
