"""Reading the CLI's input (`deployledger.cli.inputs`): bytes to text, text to numbered values.

A JSON object, a JSON array (its elements are the reports), several documents one after
another, or JSON Lines; every value numbered (report N) and located (line L). No I/O.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import report

from deployledger.cli.inputs import RawReport, decode_text, parse_reports_text

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
)
json_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    max_size=4,
)
# Pretty-printed, these span several lines: no line of them is a whole object.
spread_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    min_size=1,
    max_size=4,
)


def read(text: str) -> tuple[list[tuple[Any, int, int]], list[tuple[int | None, int | None]]]:
    """(value, number, line) of each report, and (number, line) of each problem."""
    reports, problems = parse_reports_text(text)
    return [(r.value, r.number, r.line) for r in reports], [(p.report, p.line) for p in problems]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


class TestDecodeText:
    def test_utf8_is_decoded(self) -> None:
        data = json.dumps(report(message="部署失败 🚀"), ensure_ascii=False).encode("utf-8")
        assert decode_text(data) == (data.decode("utf-8"), None)

    def test_a_utf8_byte_order_mark_is_dropped(self) -> None:
        text, problem = decode_text(b"\xef\xbb\xbf" + b'{"a": 1}')
        assert problem is None
        assert text == '{"a": 1}'
        assert parse_reports_text(text or "")[0] == [RawReport({"a": 1}, 1, 1)]

    @pytest.mark.parametrize(
        ("data", "byte"),
        [
            pytest.param('{"a": "é"}'.encode("latin-1"), 7, id="latin-1"),
            pytest.param('{"a": 1}'.encode("utf-16"), 0, id="utf-16-with-bom"),
            pytest.param(b"\xff\xfe", 0, id="utf-16-bom-alone"),
            pytest.param(b'{"a": "\xed\xa0\x80"}', 7, id="encoded-surrogate"),
            pytest.param(b'{"a": "\xf0\x9f\x9a"}', 7, id="cut-four-byte-sequence"),
        ],
    )
    def test_anything_else_is_one_problem_naming_the_first_bad_byte(
        self, data: bytes, byte: int
    ) -> None:
        text, problem = decode_text(data)
        assert text is None
        assert problem is not None
        assert (problem.field, problem.report, problem.line) == ("(input)", None, None)
        assert problem.reason == f"not valid UTF-8 at byte {byte}"

    @given(text=st.text(st.characters(exclude_categories=("Cs",))))
    def test_any_text_comes_back_from_its_utf8_bytes_with_or_without_a_bom(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = " " + text
        assert decode_text(text.encode("utf-8")) == (text, None)
        assert decode_text(text.encode("utf-8-sig")) == (text, None)


class TestDocuments:
    def test_one_pretty_printed_object_is_report_1_on_its_first_line(self) -> None:
        sent = report(message="a\nb")
        text = "\n\n" + json.dumps(sent, indent=2) + "\n"
        assert read(text) == ([(sent, 1, 3)], [])

    def test_the_elements_of_an_array_are_the_reports_each_on_its_own_line(self) -> None:
        sent = [report("rt-1"), report("rt-2", success=False), report("rt-3")]
        text = json.dumps(sent, indent=4)

        values, problems = read(text)

        assert problems == []
        assert [v for v, _, _ in values] == sent
        assert [n for _, n, _ in values] == [1, 2, 3]
        assert [line for _, _, line in values] == [2, 10, 18]

    def test_documents_one_after_another_are_numbered_on_across_arrays(self) -> None:
        text = '{\n "a": 1}\n[\n  {"b": 2},\n  {"c": 3}\n] [] {"d":\n 4}'
        assert read(text) == (
            [({"a": 1}, 1, 1), ({"b": 2}, 2, 4), ({"c": 3}, 3, 5), ({"d": 4}, 4, 6)],
            [],
        )

    def test_any_json_value_is_passed_on_for_the_parser_to_judge(self) -> None:
        assert read('"a string"') == ([("a string", 1, 1)], [])
        assert read("1 2.5 null") == ([(1, 1, 1), (2.5, 2, 1), (None, 3, 1)], [])
        assert read("[[1], {}]") == ([([1], 1, 1), ({}, 2, 1)], [])

    @pytest.mark.parametrize("text", ["", "   ", "\n\n\t\r\n", "[]", " [ \n ] "])
    def test_nothing_but_blanks_or_an_empty_array_is_no_report_and_no_problem(
        self, text: str
    ) -> None:
        assert parse_reports_text(text) == ([], [])

    def test_a_syntax_error_is_one_problem_on_its_line_and_reading_stops(self) -> None:
        text = '{\n  "a": 1\n}\n{\n  "tenantId": "t1",\n  "workloadName": oops,\n}\n{"z": 0}'
        reports, problems = parse_reports_text(text)
        assert [(r.value, r.number) for r in reports] == [({"a": 1}, 1)]
        assert [(p.field, p.report, p.line) for p in problems] == [("(json)", 2, 6)]
        assert problems[0].reason.startswith("invalid JSON: ")
        assert str(problems[0]).startswith("report 2 (line 6): (json): invalid JSON: ")

    def test_a_broken_element_of_an_array_is_one_problem_with_its_number_and_line(self) -> None:
        text = '[\n  {"a": 1},\n  {"b": oops},\n  {"c": 3}\n]'
        values, problems = read(text)
        assert values == [({"a": 1}, 1, 2)]
        assert problems == [(2, 3)]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param('[{"a": 1},]', ([({"a": 1}, 1, 1)], [(2, 1)]), id="trailing-comma"),
            pytest.param('[{"a": 1}', ([({"a": 1}, 1, 1)], [(1, 1)]), id="unclosed"),
            pytest.param('[{"a": 1}\n {"b": 2}]', ([({"a": 1}, 1, 1)], [(1, 2)]), id="no-comma"),
        ],
    )
    def test_a_malformed_array_is_one_problem_and_reading_stops(
        self, text: str, expected: tuple[Any, Any]
    ) -> None:
        assert read(text) == expected
        _, problems = parse_reports_text(text)
        assert all(p.field == "(json)" for p in problems)

    def test_an_array_with_its_closing_bracket_on_a_line_of_its_own_is_read_whole(
        self,
    ) -> None:
        assert read('[{"a": 1},\n{"a": 2}\n]\n') == ([({"a": 1}, 1, 1), ({"a": 2}, 2, 2)], [])
        assert read(json.dumps([{}, {}], indent=2)) == ([({}, 1, 2), ({}, 2, 3)], [])

    @settings(max_examples=50)
    @given(values=st.lists(spread_objects, min_size=1, max_size=6), indent=st.integers(0, 4))
    def test_any_pretty_printed_array_gives_its_elements_in_order(
        self, values: list[dict[str, Any]], indent: int
    ) -> None:
        text = json.dumps(values, indent=indent)
        reports, problems = parse_reports_text(text)
        assert problems == []
        assert [r.value for r in reports] == values
        assert [r.number for r in reports] == list(range(1, len(values) + 1))
        lines = [r.line for r in reports]
        assert lines == sorted(lines)
        assert all(1 <= line <= text.count("\n") + 1 for line in lines)


class TestJSONLines:
    def test_each_line_is_one_report_and_blank_lines_keep_the_line_count(self) -> None:
        text = '{"a": 1}\n\n  \n{"b": 2}\r\n{"c": 3}'
        assert read(text) == ([({"a": 1}, 1, 1), ({"b": 2}, 2, 4), ({"c": 3}, 3, 5)], [])

    def test_a_broken_line_is_reported_on_its_line_and_the_next_lines_are_still_read(
        self,
    ) -> None:
        good = json.dumps(report("rt-1"))
        text = "\n".join([good, good[:-1], "", "not json", json.dumps(report("rt-2"))]) + "\n"

        reports, problems = parse_reports_text(text)

        assert [(r.number, r.line, r.value["workloadRtId"]) for r in reports] == [
            (1, 1, "rt-1"),
            (4, 5, "rt-2"),
        ]
        assert [(p.report, p.line) for p in problems] == [(2, 2), (3, 4)]
        assert all(p.reason.startswith("invalid JSON: ") for p in problems)
        assert "(column " in problems[0].reason

    def test_a_value_that_is_not_an_object_on_a_line_is_passed_on(self) -> None:
        assert read('{"a": 1}\n"text"\n[1]\n') == (
            [({"a": 1}, 1, 1), ("text", 2, 2), ([1], 3, 3)],
            [],
        )

    def test_the_second_line_may_be_the_first_whole_object(self) -> None:
        text = '{"a": 1\n{"b": 2}\n'
        assert read(text) == ([({"b": 2}, 2, 2)], [(1, 1)])

    @settings(max_examples=100)
    @given(
        lines=st.lists(
            st.one_of(st.just(""), st.just("   "), json_objects.map(json.dumps)),
            min_size=1,
            max_size=12,
        ).filter(lambda ls: any(line.strip() for line in ls)),
        newline=st.sampled_from(["\n", "\r\n"]),
        final=st.booleans(),
    )
    def test_any_json_lines_give_every_object_numbered_in_turn_on_its_own_line(
        self, lines: list[str], newline: str, final: bool
    ) -> None:
        text = newline.join(lines) + (newline if final else "")
        expected = [
            (json.loads(line), line_number)
            for line_number, line in enumerate(lines, start=1)
            if line.strip()
        ]

        reports, problems = parse_reports_text(text)

        assert problems == []
        assert [(r.value, r.line) for r in reports] == expected
        assert [r.number for r in reports] == list(range(1, len(expected) + 1))

    def test_the_line_of_a_report_is_where_its_object_starts(self) -> None:
        text = "\n".join(json.dumps(report(f"rt-{n}")) for n in range(5))
        for raw in parse_reports_text(text)[0]:
            assert raw.line == line_of(text, f'"rt-{raw.number - 1}"')
