"""The CLI's text output (`deployledger.cli.render`): tables, blocks, JSON, terminal safety.

Whatever a report carried, no control character reaches the terminal from the text views:
C0 controls (but newline and tab where a message is shown whole), DEL, C1 controls, format
characters (bidi overrides, zero-width characters) and line/paragraph separators are written
as `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`. No I/O.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployledger import Attempt, DeploymentState, Receipt, WorkloadState
from deployledger.cli import render, timeline
from deployledger.domain.insights.failures import categorize, fingerprint
from deployledger.presentation.headline import headline

AT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


class _Unsafe:
    """`CONTROL.search(text)`: the first character a terminal could act on, or None."""

    @staticmethod
    def search(text: str) -> str | None:
        return next((c for c in text if unicodedata.category(c) in UNSAFE), None)


CONTROL = _Unsafe()
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
FORMAT_CHARACTERS = "\u202e\u202a\u2066\u200b\u200d\ufeff\u00ad\u2028\u2029\U000e0001"
control_heavy = st.text(
    st.one_of(st.characters(max_codepoint=0xA0), st.sampled_from("é部🚀" + FORMAT_CHARACTERS)),
    max_size=40,
)


def escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def state(**fields: Any) -> WorkloadState:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "workload_rt_id": "rt-1",
        "workload_name": "billing-api",
        "pool_name": None,
        "state": DeploymentState.ERROR,
        "status_message": "Error: UPGRADE FAILED\nline \x1b[31mtwo",
        "attempts": 3,
        "failures": 2,
        "consecutive_failures": 1,
        "last_attempt_at": AT,
        "last_success_at": AT - timedelta(hours=1),
        "last_failure_at": AT,
    }
    values.update(fields)
    return WorkloadState(**values)


def attempt(number: int, message: str | None, **fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "workload_rt_id": "rt-1",
        "attempt": number,
        "recorded_at": AT,
        "reported_at": None,
        "success": message is None,
        "state": DeploymentState.DEPLOYED if message is None else DeploymentState.ERROR,
        "status_message": message,
        "workload_name": "billing-api",
        "pool_name": "pool-a",
        "message_id": None,
        "position": number * 10,
        # As the ledger derives them: a failure's category and fingerprint, none for a success.
        "category": None if message is None else categorize(message),
        "fingerprint": None if message is None else fingerprint(message),
    }
    values.update(fields)
    return Attempt(**values)


class TestSafe:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("plain ünïcödé 部署 🚀", "plain ünïcödé 部署 🚀"),
            ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
            ("nul\x00bell\x07cr\r", "nul\\x00bell\\x07cr\\x0d"),
            ("del\x7f c1\x80\x9b nbsp\xa0", "del\\x7f c1\\x80\\x9b nbsp\xa0"),
            ("line\nand\ttab", "line\nand\ttab"),
            ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
            ("zero\u200bwidth\ufeff soft\u00adhyphen", "zero\\u200bwidth\\ufeff soft\\xadhyphen"),
            ("line\u2028para\u2029", "line\\u2028para\\u2029"),
            ("tag\U000e0001", "tag\\U000e0001"),
        ],
    )
    def test_control_characters_are_escaped_and_newline_and_tab_kept(
        self, text: str, shown: str
    ) -> None:
        assert render.safe(text) == shown

    def test_with_nothing_kept_newline_and_tab_are_escaped_too(self) -> None:
        assert render.safe("a\nb\tc", keep=set()) == "a\\x0ab\\x09c"

    @given(text=control_heavy)
    def test_no_control_character_is_left_whatever_the_text(self, text: str) -> None:
        shown = render.safe(text, keep=set())
        assert CONTROL.search(shown) is None

    @given(text=any_text.filter(lambda t: CONTROL.search(t) is None))
    def test_text_without_control_characters_is_shown_as_it_is(self, text: str) -> None:
        assert render.safe(text) == text
        assert render.safe(text, keep=set()) == text

    @given(text=control_heavy)
    def test_each_control_character_becomes_its_escape_in_place(self, text: str) -> None:
        expected = "".join(escaped(c) if CONTROL.search(c) and c not in "\n\t" else c for c in text)
        assert render.safe(text) == expected

    def test_every_code_point_of_an_unsafe_category_is_escaped_and_no_other(self) -> None:
        everything = "".join(map(chr, range(0x110000)))
        shown = render.safe(everything, keep=set())
        expected = "".join(
            escaped(c) if unicodedata.category(c) in UNSAFE else c for c in everything
        )
        assert shown == expected


class TestSummariesAndTimes:
    def test_a_summary_is_the_headline_and_marks_that_more_follows(self) -> None:
        assert render.summary(None) == ""
        assert render.summary("") == ""
        assert render.summary("one") == "one"
        assert render.summary("one\n") == "one"
        assert render.summary("one\ntwo") == "one …"
        assert render.summary("tab\there\r\nnext") == "tab\\x09here …"
        assert render.summary("\nsecond") == "second"
        debug = "history.go:56: [debug] getting history\nError: UPGRADE FAILED: boom\nmore"
        assert render.summary(debug) == "Error: UPGRADE FAILED: boom …"

    def test_a_summary_cuts_a_long_line_to_the_width_with_an_ellipsis(self) -> None:
        assert render.summary("x" * 100) == "x" * 100
        assert render.summary("x" * 101) == "x" * 99 + "…"
        assert render.summary("y" * 30 + "\nmore", width=10) == "y" * 9 + "…"

    def test_a_cut_never_splits_an_escape(self) -> None:
        assert render.summary("ab\x1bcd", width=5) == "ab…"
        assert render.summary("ab\x1b", width=6) == "ab\\x1b"
        assert render.summary("a\u202ebcdefgh", width=7) == "a…"
        assert render.summary("a\u202e", width=7) == "a\\u202e"

    @given(message=control_heavy, width=st.integers(2, 120))
    def test_a_summary_is_one_safe_line_within_the_width(self, message: str, width: int) -> None:
        shown = render.summary(message, width=width)
        assert CONTROL.search(shown) is None
        assert "\n" not in shown
        assert len(shown) <= width + 2  # " …" after a line that fits
        # Whatever was cut, what is left is whole characters and whole escapes.
        body = shown.removesuffix(" …").removesuffix("…")
        tokens = [escaped(c) if CONTROL.search(c) or c == "\t" else c for c in headline(message)]
        assert body in {"".join(tokens[:k]) for k in range(len(tokens) + 1)}

    def test_times_are_shown_in_utc_to_the_second(self) -> None:
        plus_two = datetime(2024, 5, 1, 14, 0, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
        assert render.when(plus_two) == "2024-05-01T12:00:59Z"
        assert render.when(None) == "-"

    def test_times_are_shown_in_the_display_zone_with_its_offset(self) -> None:
        berlin = ZoneInfo("Europe/Berlin")
        assert render.when(AT, berlin) == "2024-05-01T14:00:00+02:00"
        assert render.when(AT.replace(month=1), berlin) == "2024-01-01T13:00:00+01:00"
        assert render.when(AT, timezone(-timedelta(hours=5, minutes=30))) == (
            "2024-05-01T06:30:00-05:30"
        )
        assert render.when(None, berlin) == "-"

    def test_a_workload_key_is_tenant_slash_runtime_id_escaped(self) -> None:
        assert render.key("t1", "rt-1") == "t1/rt-1"
        assert render.key("t\x1b1", "rt\n1") == "t\\x1b1/rt\\x0a1"

    def test_a_receipt_line_says_recorded_or_duplicate(self) -> None:
        receipt = Receipt("t1", "rt-1", 3, 42, AT, DeploymentState.ERROR, False)
        assert render.receipt_line(receipt) == "recorded t1/rt-1 attempt 3 Error"
        again = Receipt("t1", "rt\x071", 1, 7, AT, DeploymentState.DEPLOYED, True)
        assert render.receipt_line(again) == "duplicate t1/rt\\x071 attempt 1 Deployed"

    @pytest.mark.parametrize(
        ("kind", "state", "line"),
        [
            ("request", DeploymentState.PENDING, "recorded t1/rt-1 request Pending"),
            ("progress", DeploymentState.PENDING, "recorded t1/rt-1 progress Pending"),
            ("undeploy", DeploymentState.UNDEPLOYED, "recorded t1/rt-1 undeploy Undeployed"),
        ],
    )
    def test_a_receipt_line_of_another_kind_says_the_kind_instead_of_an_attempt(
        self, kind: str, state: DeploymentState, line: str
    ) -> None:
        receipt = Receipt("t1", "rt-1", None, 42, AT, state, False, kind)
        assert render.receipt_line(receipt) == line


class TestBlocksAndTables:
    def test_a_state_block_lists_each_field_and_the_whole_message_indented(self) -> None:
        assert render.state_block(state()) == "\n".join(
            [
                "t1/rt-1",
                "  workload        billing-api",
                "  pool            -",
                "  state           Error",
                "  deployed chart  -",
                "  pending chart   -",
                "  pending age     -",
                "  attempts        3 (2 failed, 1 in a row)",
                "  last attempt    2024-05-01T12:00:00Z",
                "  last success    2024-05-01T11:00:00Z",
                "  last failure    2024-05-01T12:00:00Z",
                "  last measured   -",
                "  reason          Error: UPGRADE FAILED …",
                "  message         Error: UPGRADE FAILED",
                "                  line \\x1b[31mtwo",
            ]
        )

    def test_a_reason_is_the_headline_of_an_error_or_of_a_pending_deploys_progress(self) -> None:
        deployed = state(state=DeploymentState.DEPLOYED, status_message="Error: old\nnew")
        assert "reason" not in render.state_block(deployed)
        assert render.reason(deployed) == ""
        pending = state(state=DeploymentState.PENDING, status_message="Pod x waiting\nmore")
        assert "reason" not in render.state_block(pending)
        assert render.reason(pending) == "Pod x waiting …"  # the fleet's REASON column
        debug = "client.go:1: [debug] x\nError: UPGRADE FAILED: timed out\nhelm.go:84: [debug] y"
        assert render.reason(state(status_message=debug)) == "Error: UPGRADE FAILED: timed out …"
        assert render.reason(state(status_message=None)) == ""

    def test_a_state_block_without_attempts_shows_dashes(self) -> None:
        empty = state(
            workload_name=None,
            state=DeploymentState.UNDEPLOYED,
            status_message=None,
            attempts=0,
            failures=0,
            consecutive_failures=0,
            last_attempt_at=None,
            last_success_at=None,
            last_failure_at=None,
        )
        lines = render.state_block(empty).split("\n")
        assert lines[1] == "  workload        -"
        assert lines[3] == "  state           Undeployed"
        assert lines[8:] == [
            "  last attempt    -",
            "  last success    -",
            "  last failure    -",
            "  last measured   -",
            "  message         -",
        ]

    def test_a_state_block_shows_the_charts_the_pending_age_and_the_last_duration(
        self,
    ) -> None:
        pending = state(
            state=DeploymentState.PENDING,
            status_message="Pod x container 'y' waiting: ImagePullBackOff",
            deployed_chart_name="billing-api",
            deployed_chart_version="1.4.2",
            pending_chart_name="billing-api",
            pending_chart_version=None,
            requested_at=AT - timedelta(minutes=4, seconds=12),
            last_duration=95.5,
        )
        lines = render.state_block(pending, now=AT).split("\n")
        assert lines[3:7] == [
            "  state           Pending",
            "  deployed chart  billing-api 1.4.2",
            "  pending chart   billing-api (newest)",
            "  pending age     4m 12s (requested 2024-05-01T11:55:48Z)",
        ]
        assert "  last measured   1m 35s" in lines
        assert not any(line.startswith("  reason") for line in lines)
        assert lines[-1] == "  message         Pod x container 'y' waiting: ImagePullBackOff"

    def test_an_undeployed_workload_says_when(self) -> None:
        gone = state(state=DeploymentState.UNDEPLOYED, undeployed_at=AT, status_message=None)
        assert "  undeployed at   2024-05-01T12:00:00Z" in render.state_block(gone).split("\n")
        assert "undeployed at" not in render.state_block(state())

    def test_the_pending_age_is_measured_to_now_unless_told(self) -> None:
        recent = state(requested_at=datetime.now(UTC) - timedelta(seconds=95))
        assert render.pending_age(recent) in ("1m 35s", "1m 36s", "1m 37s")
        assert render.pending_age(recent, now=recent.requested_at) == "< 1s"
        assert render.pending_age(state()) == ""

    def test_a_table_pads_every_column_but_the_last_and_right_aligns_the_numbers(self) -> None:
        table = render.table(
            ["N", "NAME", "NOTE"], [["7", "a", "x"], ["1234", "longer", ""]], right={0}
        )
        assert table.split("\n") == [
            "   N  NAME    NOTE",
            "   7  a       x",
            "1234  longer",
        ]

    def test_the_history_table_shows_headlines_and_the_full_one_whole_messages(self) -> None:
        # The time shown is when the attempt occurred: the reported time when there is one.
        attempts = [
            attempt(12, None),
            attempt(3, "boom\n\x1b[1msecond\tline", reported_at=AT - timedelta(hours=1)),
            attempt(2, "upgrade.go:1: [debug] x\nError: UPGRADE FAILED: \u202eoops\n"),
        ]

        assert timeline.history_table(attempts, full=False).split("\n") == [
            "ATTEMPT  OCCURRED AT           STATE     CHART  DURATION  HELM  EXIT  CATEGORY"
            "  MESSAGE",
            "     12  2024-05-01T12:00:00Z  Deployed  -      -         -     -     -",
            "      3  2024-05-01T11:00:00Z  Error     -      -         -     -     unknown"
            "   boom …",
            "      2  2024-05-01T12:00:00Z  Error     -      -         -     -     unknown"
            "   Error: UPGRADE FAILED: \\u202eoops …",
        ]
        attempts = attempts[:2]
        assert timeline.history_table(attempts, full=True).split("\n") == [
            "ATTEMPT  OCCURRED AT           STATE     CHART  DURATION  HELM  EXIT  CATEGORY"
            "  MESSAGE",
            "     12  2024-05-01T12:00:00Z  Deployed  -      -         -     -     -",
            "    -",
            "      3  2024-05-01T11:00:00Z  Error     -      -         -     -     unknown",
            "    boom",
            "    \\x1b[1msecond\tline",
        ]

    def test_the_fleet_table_has_one_row_per_workload_and_the_reason_of_an_error(self) -> None:
        rows = [
            state(),
            state(workload_rt_id="rt-22", pool_name="pool\x1b", attempts=12),
            state(workload_rt_id="rt-3", state=DeploymentState.DEPLOYED, status_message="ok"),
        ]
        assert render.fleet_table(rows).split("\n") == [
            "TENANT  WORKLOAD RT ID  WORKLOAD     POOL      STATE     ATTEMPTS  FAILED  IN A ROW"
            "  LAST ATTEMPT          REASON",
            "t1      rt-1            billing-api  -         Error            3       2         1"
            "  2024-05-01T12:00:00Z  Error: UPGRADE FAILED …",
            "t1      rt-22           billing-api  pool\\x1b  Error           12       2         1"
            "  2024-05-01T12:00:00Z  Error: UPGRADE FAILED …",
            "t1      rt-3            billing-api  -         Deployed         3       2         1"
            "  2024-05-01T12:00:00Z",
        ]

    def test_the_fleet_table_shows_the_pending_age_and_progress_of_a_pending_workload(
        self,
    ) -> None:
        rows = [
            state(
                state=DeploymentState.PENDING,
                status_message="Pod x waiting: ImagePullBackOff\nmore",
                requested_at=AT - timedelta(minutes=4, seconds=12),
            ),
            state(workload_rt_id="rt-2", state=DeploymentState.DEPLOYED, status_message=None),
        ]
        assert render.fleet_table(rows, now=AT).split("\n") == [
            "TENANT  WORKLOAD RT ID  WORKLOAD     POOL  STATE     ATTEMPTS  FAILED  IN A ROW"
            "  LAST ATTEMPT          PENDING FOR  REASON",
            "t1      rt-1            billing-api  -     Pending          3       2         1"
            "  2024-05-01T12:00:00Z       4m 12s  Pod x waiting: ImagePullBackOff …",
            "t1      rt-2            billing-api  -     Deployed         3       2         1"
            "  2024-05-01T12:00:00Z            -",
        ]

    def test_table_times_follow_the_display_zone(self) -> None:
        berlin = ZoneInfo("Europe/Berlin")
        assert "2024-05-01T14:00:00+02:00" in render.fleet_table([state()], berlin)
        assert "2024-05-01T14:00:00+02:00" in render.audit_table([attempt(1, None)], berlin)
        history = timeline.history_table([attempt(1, None)], full=False, zone=berlin)
        assert "2024-05-01T14:00:00+02:00" in history
        assert "last attempt    2024-05-01T14:00:00+02:00" in render.state_block(state(), berlin)

    def test_the_audit_table_shows_positions_keys_and_first_lines(self) -> None:
        rows = [attempt(12, None), attempt(3, "y" * 90 + "\nmore", pool_name=None)]
        assert render.audit_table(rows).split("\n") == [
            "POSITION  OCCURRED AT           WORKLOAD  NAME         POOL    ATTEMPT  STATE"
            "     CATEGORY  MESSAGE",
            "     120  2024-05-01T12:00:00Z  t1/rt-1   billing-api  pool-a       12  Deployed  -",
            "      30  2024-05-01T12:00:00Z  t1/rt-1   billing-api  -             3  Error"
            "     unknown   " + "y" * 79 + "…",
        ]

    @given(tenant=control_heavy, name=control_heavy, message=st.one_of(st.none(), control_heavy))
    def test_no_control_character_reaches_any_table_but_line_breaks(
        self, tenant: str, name: str, message: str | None
    ) -> None:
        row = attempt(1, message, tenant_id=tenant, workload_name=name, pool_name=name)
        fleet = state(tenant_id=tenant, workload_name=name, status_message=message)
        for shown in (
            render.audit_table([row]),
            timeline.history_table([row], full=False),
            timeline.history_table([row], full=False, kinds=True),
            render.fleet_table([fleet]),
        ):
            assert CONTROL.search(shown.replace("\n", "")) is None
        assert CONTROL.search(render.state_block(fleet).replace("\n", "").replace("\t", "")) is None
        full = timeline.history_table([row], full=True)
        assert CONTROL.search(full.replace("\n", "").replace("\t", "")) is None


class TestJSON:
    def test_json_keeps_unicode_and_escapes_what_json_must(self) -> None:
        assert render.to_json({"m": "é部🚀", "n": None}) == '{"m": "é部🚀", "n": null}'
        assert render.to_json('a\x00\x1b\n"') == '"a\\u0000\\u001b\\n\\""'

    def test_json_writes_del_c1_and_format_characters_as_escapes(self) -> None:
        # Still the same string to any JSON reader; nothing a terminal acts on is raw.
        text = "\x7f\x9b31m\x85\u202e\u2028\U000e0001"
        shown = render.to_json(text)
        assert shown == '"\\u007f\\u009b31m\\u0085\\u202e\\u2028\\udb40\\udc01"'
        assert json.loads(shown) == text

    @given(
        value=st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), any_text, control_heavy),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3)
            ),
            max_leaves=10,
        )
    )
    def test_any_json_value_comes_back_from_its_one_safe_line(self, value: Any) -> None:
        shown = render.to_json(value)
        assert "\n" not in shown
        assert CONTROL.search(shown) is None
        assert json.loads(shown) == value


@given(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
def test_json_numbers_are_plain_decimals_and_read_back_exactly(value: float, text: str) -> None:
    shown = render.to_json({"seconds": value, "nested": [value, text]})
    assert json.loads(shown) == {"seconds": value, "nested": [value, text]}
    number = shown.split(",", 1)[0].removeprefix('{"seconds": ')
    assert "e" not in number.lower()
