"""`deployledger serve`: the HTTP service, an entry point beside the CLI over the public API.

`create_app(ServeSettings(store=...))` is the FastAPI app; `deployledger serve` runs it with
uvicorn.
"""

from deployledger.http.app import create_app
from deployledger.http.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
