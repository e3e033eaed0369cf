"""No writer of data puts a number in exponent notation: whatever float a duration is (a
deploy of 64 microseconds, a subnormal, 1e300), the CLI's JSON and CSV, the HTTP service's
JSON answers and the export's CSV cells write it as plain decimal text that reads back as
the same float (`0.000064`, never `6.4e-05` or `1e+16`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from deployledger.cli import output, render
from deployledger.domain.insights.export import csv_cell
from deployledger.http.jsonbody import PlainJSONResponse
from deployledger.presentation import plain_json

FLOATS = st.one_of(
    st.floats(min_value=-1e-3, max_value=1e-3),  # tiny, subnormals and zeros among them
    st.floats(min_value=1e15, max_value=1e308),  # large: repr() writes 1e+16 from here
    st.floats(allow_nan=False, allow_infinity=False),
)
TEXT = "a message that says 6.4e-05 keeps it"


def float_literals(text: str) -> list[str]:
    """Every number with a fraction or an exponent in a JSON text, as written."""
    found: list[str] = []

    def keep(literal: str) -> float:
        found.append(literal)
        return float(literal)

    json.loads(text, parse_float=keep)
    return found


def row_of(value: float) -> dict[str, Any]:
    return {
        "durationSeconds": value,
        "statusMessage": TEXT,
        "days": [{"ageSeconds": value}, value],
    }


@given(FLOATS)
def test_every_json_writer_writes_a_float_in_plain_decimals(value: float) -> None:
    row = row_of(value)
    answers = {
        "plain_json": plain_json(row),
        "cli -o json": render.to_json(row),
        "http": bytes(PlainJSONResponse(row).body).decode(),
    }
    for surface, text in answers.items():
        literals = float_literals(text)
        assert len(literals) == 3, (surface, text)
        assert not any("e" in literal.lower() for literal in literals), (surface, text)
        assert json.loads(text) == row, surface
        assert TEXT in text, surface


@given(FLOATS)
def test_every_csv_writer_writes_a_float_in_plain_decimals(value: float) -> None:
    text = output.to_csv([row_of(value)], ["durationSeconds", "statusMessage"], header=False)
    (cells,) = list(csv.reader(io.StringIO(text)))
    for cell in (cells[0], str(csv_cell(value))):
        assert "e" not in cell.lower(), cell
        assert float(cell) == value
    assert cells[1] == TEXT
