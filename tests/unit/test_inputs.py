"""Reading the CLI's input (`deployledger.cli.inputs`): bytes to text, text to numbered values.

A JSON object, a JSON array (its elements are the reports), several documents one after
another, or JSON Lines; every value numbered (report N) and located (line L). No I/O.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import report

from deployledger.cli.inputs import RawReport, decode_text, parse_reports_text, read_reports

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
json_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    max_size=4,
)
# Pretty-printed, these span several lines: no line of them is a whole object.
spread_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
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

    @given(text=st.text(st.characters(exclude_categories=["Cs"])))
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

    @pytest.mark.parametrize(
        ("text", "where", "reason"),
        [
            pytest.param('"tenantId": "t1", "success": true}', 1, "':' after a string", id="no-{"),
            pytest.param('"a"\n, {"b": 1}', 2, "',' after a string", id="comma-after-blanks"),
            pytest.param('"{"tenantId": "t1"}', 1, "'t' after a string", id="glued"),
            pytest.param("12x", 1, "'x' after a number", id="number-glued"),
            pytest.param("null]", 1, "']' after null", id="bracket"),
        ],
    )
    def test_a_scalar_that_is_a_piece_of_a_broken_document_is_one_problem(
        self, text: str, where: int, reason: str
    ) -> None:
        assert problems_of(text) == [
            f"report 1 (line {where}): (json): invalid JSON: unexpected {reason}"
        ]
        assert parse_reports_text(text)[0] == []

    def test_scalars_apart_are_values_of_their_own(self) -> None:
        assert read('"a" 1\ntrue {"b": 2}') == (
            [("a", 1, 1), (1, 2, 1), (True, 3, 2), ({"b": 2}, 4, 2)],
            [],
        )

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
            pytest.param('[{"a": 1}', ([({"a": 1}, 1, 1)], [(2, 1)]), id="unclosed"),
            pytest.param('[{"a": 1}\n {"b": 2}]', ([({"a": 1}, 1, 1)], [(2, 2)]), id="no-comma"),
            pytest.param("[1 2]", ([(1, 1, 1)], [(2, 1)]), id="no-comma-numbers"),
            pytest.param('[{"a": 1},\n\n', ([({"a": 1}, 1, 1)], [(2, 3)]), id="ends-after-comma"),
            pytest.param("[\n", ([], [(1, 2)]), id="ends-after-bracket"),
        ],
    )
    def test_a_malformed_array_is_one_problem_on_the_report_that_could_not_be_read(
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
        assert read('{"a": 1}\n"text"\n[1]\n[[2]]\n') == (
            [({"a": 1}, 1, 1), ("text", 2, 2), (1, 3, 3), ([2], 4, 4)],
            [],
        )

    def test_a_line_holding_an_array_gives_its_elements_as_a_document_array_does(self) -> None:
        sent = [report("rt-1"), report("rt-2"), report("rt-3"), report("rt-4")]
        lines = [json.dumps(sent[0]), json.dumps(sent[1:3]), "[]", json.dumps(sent[3])]

        values, problems = read("\n".join(lines))

        assert problems == []
        assert values == [(sent[0], 1, 1), (sent[1], 2, 2), (sent[2], 3, 2), (sent[3], 4, 4)]
        as_document = parse_reports_text(json.dumps(sent, indent=2))[0]
        assert [r.value for r in as_document] == [v for v, _, _ in values]

    def test_a_broken_array_on_a_line_is_one_problem_and_the_next_lines_are_still_read(
        self,
    ) -> None:
        text = '{"a": 1}\n[{"b": 2} {"c": 3}]\n{"d": 4}\n'
        assert read(text) == ([({"a": 1}, 1, 1), ({"d": 4}, 3, 3)], [(2, 2)])

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


def problems_of(text: str) -> list[str]:
    return [str(p) for p in parse_reports_text(text)[1]]


class TestDuplicateKeys:
    def test_a_key_given_twice_on_a_json_line_is_a_problem_and_the_next_lines_are_still_read(
        self,
    ) -> None:
        good = json.dumps(report("rt-1"))
        twice = json.dumps(report("rt-2"))[:-1] + ', "tenantId": "t2"}'
        text = "\n".join([good, twice, good]) + "\n"

        reports, problems = parse_reports_text(text)

        assert [(r.number, r.line) for r in reports] == [(1, 1), (3, 3)]
        assert [str(p) for p in problems] == ['report 2 (line 2): (json): duplicate key "tenantId"']

    def test_the_first_line_may_hold_the_duplicate_and_the_input_is_still_json_lines(
        self,
    ) -> None:
        text = '{"a": 1, "a": 1}\n[1 2]\n{"b": 2}\n'
        assert read(text) == ([({"b": 2}, 3, 3)], [(1, 1), (2, 2)])

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                '{\n  "tenantId": "t1",\n  "tenantId": "t1"\n}',
                'report 1 (line 1): (json): duplicate key "tenantId"',
                id="pretty-object",
            ),
            pytest.param(
                '[\n {"a": 1},\n {"b": {"c": 1, "c": 2}}\n]',
                'report 2 (line 3): (json): duplicate key "c"',
                id="nested-in-array-element",
            ),
            pytest.param(
                '{"x": 1}\n{"\\u00e9": 1, "é": 2}\n',
                'report 2 (line 2): (json): duplicate key "é"',
                id="same-key-spelled-two-ways",
            ),
        ],
    )
    def test_a_key_given_twice_anywhere_in_a_report_is_a_problem_on_its_report(
        self, text: str, expected: str
    ) -> None:
        assert problems_of(text) == [expected]

    def test_keys_that_only_differ_in_case_are_two_keys_for_the_reader(self) -> None:
        # (The report parser then decides whether they name the same field.)
        assert read('{"tenantId": "a", "TenantId": "a"}') == (
            [({"tenantId": "a", "TenantId": "a"}, 1, 1)],
            [],
        )


class TestHostileJSON:
    @pytest.mark.parametrize("lines", [True, False], ids=["json-lines", "document"])
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            pytest.param(
                "1" * 5000, "invalid JSON: a number has more than 4,300 digits", id="huge-int"
            ),
            pytest.param("[" * 100_000, "invalid JSON: nested deeper than 64", id="deep-nesting"),
            pytest.param(
                '{"a":' * 50_000, "invalid JSON: nested deeper than 64", id="deep-objects"
            ),
        ],
    )
    def test_is_one_problem_never_an_exception(self, lines: bool, value: str, reason: str) -> None:
        text = f'{{"ok": 1}}\n{{"v": {value}}}\n' if lines else f'[{{"ok": 1}}, {{"v": {value}}}]'
        reports, problems = parse_reports_text(text)
        assert [r.value for r in reports] == [{"ok": 1}]
        assert [(p.field, p.report) for p in problems] == [("(json)", 2)]
        assert problems[0].reason.startswith(reason)

    @pytest.mark.parametrize("lines", [True, False], ids=["json-lines", "document"])
    @pytest.mark.parametrize("kind", ["arrays", "objects"])
    def test_nesting_is_refused_past_64_levels_whatever_the_parser_could_take(
        self, lines: bool, kind: str
    ) -> None:
        def nested(depth: int) -> str:  # a report whose "extra" field nests `depth` levels
            inner = "[" * (depth - 1) + "]" * (depth - 1)
            if kind == "objects":
                inner = '{"a":' * (depth - 1) + "1" + "}" * (depth - 1)
            return f'{{"extra": {inner}}}' if depth > 1 else "{}"

        values = [nested(64), nested(65), nested(900)]
        text = "\n".join(values) if lines else "[" + ",\n".join(values) + "]"
        reports, problems = parse_reports_text(text)
        assert [r.number for r in reports] == [1]
        assert [(p.report, p.line, p.reason) for p in problems] == [
            (2, 2, "invalid JSON: nested deeper than 64 levels"),
            (3, 3, "invalid JSON: nested deeper than 64 levels"),
        ]

    def test_huge_and_special_numbers_are_passed_on_for_the_parser_to_judge(self) -> None:
        values, problems = read("[1e400, -1e400, NaN, 12345678901234567890123]")
        assert problems == []
        assert [str(v) for v, _, _ in values] == ["inf", "-inf", "nan", "12345678901234567890123"]


def stream(data: bytes, chunk: int) -> tuple[list[tuple[Any, int, int, int]], list[str]]:
    """What `read_reports` gives, reading `chunk` bytes at a time."""
    reports, problems = [], []
    for item in read_reports(io.BytesIO(data).read, chunk):
        if isinstance(item, RawReport):
            reports.append((item.value, item.number, item.line, item.last_line))
        else:
            problems.append(str(item))
    return reports, problems


def whole(text: str) -> tuple[list[tuple[Any, int, int, int]], list[str]]:
    reports, problems = parse_reports_text(text)
    return [(r.value, r.number, r.line, r.last_line) for r in reports], [str(p) for p in problems]


# Inputs, whole or broken: JSON Lines, pretty or compact arrays, several documents.
any_input = st.one_of(
    st.lists(json_objects.map(json.dumps), min_size=1, max_size=6).map("\n".join),
    st.tuples(st.lists(spread_objects, max_size=5), st.integers(0, 3)).map(
        lambda v: json.dumps(v[0], indent=v[1] or None)
    ),
    st.lists(spread_objects, min_size=1, max_size=4).map(
        lambda vs: "\n".join(json.dumps(v, indent=2) for v in vs)
    ),
    st.lists(st.one_of(json_scalars, spread_objects), max_size=6).map(json.dumps),
)


@st.composite
def broken(draw: st.DrawFn) -> str:
    text = draw(any_input)
    cut = draw(st.integers(0, len(text)))
    junk = draw(st.sampled_from(["", ",", "]", "[", "{", '"', "\\", "x", "\n", "1", " tru"]))
    return text[:cut] + junk + text[cut + draw(st.integers(0, 3)) :]


class TestStreaming:
    @settings(max_examples=300)
    @given(text=st.one_of(any_input, broken()), chunk=st.integers(1, 40))
    def test_any_input_read_in_chunks_gives_what_the_whole_text_gives(
        self, text: str, chunk: int
    ) -> None:
        assert stream(text.encode("utf-8"), chunk) == whole(text)

    @pytest.mark.parametrize("chunk", [7, 1000, 65536])
    def test_a_large_input_keeps_its_numbers_and_lines_however_it_is_read(self, chunk: int) -> None:
        sent = [report(f"rt-{n}", message="x" * (n % 300) + "\n🚀") for n in range(1500)]
        pretty = json.dumps(sent, indent=2, ensure_ascii=False)
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in sent) + "\n"
        assert len(pretty.encode()) > 4 * 65536  # consumed text is dropped on the way
        compact = json.dumps(sent, ensure_ascii=False)  # one line
        for text in (pretty, lines, compact):
            reports, problems = stream(text.encode("utf-8"), chunk)
            assert problems == []
            assert [v for v, _, _, _ in reports] == sent
            assert (reports, problems) == whole(text)
        assert [(n, line) for _, n, line, _ in stream(lines.encode(), chunk)[0]][-1] == (1500, 1500)

    @pytest.mark.parametrize("indent", [None, 1])
    def test_a_value_cut_by_a_chunk_boundary_is_read_whole(self, indent: int | None) -> None:
        values = [12345, 1.5e3, -0.25e-2, True, None, "abc\u00e9\\", {"k": [-0.25, 1e9]}]
        text = json.dumps(values, indent=indent) + "\n" + json.dumps(values, indent=indent)
        for chunk in range(1, len(text) + 1):
            assert stream(text.encode(), chunk) == whole(text), chunk
        assert [v for v, _, _, _ in whole(text)[0]] == values + values

    def test_the_last_line_of_a_pretty_printed_report_is_where_it_ends(self) -> None:
        text = json.dumps([{"a": 1, "b": [1, 2]}, {"c": 3}], indent=2)
        (first, second), _ = stream(text.encode(), 5)
        assert first[2:] == (2, 8)
        assert second[2:] == (9, 11)

    @pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
    def test_utf8_split_across_chunks_is_decoded_and_bad_bytes_are_found_where_they_are(
        self, chunk: int
    ) -> None:
        good = '{"m": "部署失败 🚀 é"}\n'.encode()
        assert stream(good, chunk) == whole(good.decode())
        bad = b"\xef\xbb\xbf" + good + b'{"m": "\xf0\x9f\x9a"}\n'
        assert stream(bad, chunk)[1] == [f"(input): not valid UTF-8 at byte {3 + len(good) + 7}"]
