"""JSON answers with plain decimal numbers: `0.000064`, never `6.4e-05`.

Starlette's `JSONResponse` writes a float as `repr()` does, in exponent notation below
0.0001 (a deploy that took 64 microseconds: `"durationSeconds":6.4e-05`). Every JSON answer
of the service, problems included, is a `PlainJSONResponse`: the same compact JSON, with
each float in plain decimals that read back as the same float
(`deployledger.presentation.plain_json`), as the CLI's `-o json` and the CSV write them.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from deployledger.presentation import plain_json


class PlainJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return plain_json(content, separators=(",", ":"), allow_nan=False).encode("utf-8")
