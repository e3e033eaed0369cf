"""Store URLs: `sqlite:///path.db`, `sqlite:///:memory:`, `postgresql://user[:pw]@host[:port]/db`.

Settings may ride along as query parameters, for example
`postgresql://app@db:5432/ledger?lock_timeout=2&connect_timeout=3&pool_size=4&schema=ops`.
`redacted()` is the only form of a URL that may appear in a message or a log.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from deployledger.errors import InvalidStoreURL

DEFAULT_STORE_URL = "sqlite:///deployledger.db"
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds; PostgreSQL's own default of 0 would wait forever
DEFAULT_CONNECT_TIMEOUT = 5.0

_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}
_SCHEMES["postgresql+psycopg"] = "postgres"
_NUMERIC = {"lock_timeout", "connect_timeout", "pool_size", "max_message_bytes"}
_INTEGER = {"pool_size", "max_message_bytes"}
_ALLOWED = {"sqlite": {"lock_timeout", "max_message_bytes"}, "postgres": _NUMERIC | {"schema"}}
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL. Never print it; print `redacted()`."""

    backend: Literal["sqlite", "postgres"]
    path: str = ""  # SQLite file, or a shared-cache memory URI
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = ""
    schema: str = "public"
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    pool_size: int = 5
    memory: bool = False
    max_message_bytes: int | None = None  # the largest status message kept whole

    DEFAULT: ClassVar[str] = DEFAULT_STORE_URL

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Parse a store URL; `InvalidStoreURL` says what is wrong with it."""
        return parse_store_url(url)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"

    def redacted(self) -> str:
        """The URL with the password masked: safe to show anywhere."""
        if self.backend == "sqlite":
            return "sqlite:///:memory:" if self.memory else f"sqlite:///{self.path}"
        auth = self.user + (":***" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"

    def scrub(self, text: str) -> str:
        """Remove the password from any text before it is shown."""
        return text.replace(self.password, "***") if self.password else text

    def with_settings(self, **changes: float | int | None) -> StoreURL:
        """A copy with the given settings changed; `None` values are ignored."""
        given = {k: v for k, v in changes.items() if v is not None}
        for key, value in given.items():
            if not math.isfinite(float(value)) or float(value) <= 0:
                raise InvalidStoreURL(f"{key} must be a positive number, got {value}")
        return replace(self, **given)  # type: ignore[arg-type]

    def dsn_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for `psycopg.connect`."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "connect_timeout": max(1, round(self.connect_timeout)),
        }


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL, or raise `InvalidStoreURL` saying what is wrong with it."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreURL(
            "store URL must look like sqlite:///path.db or postgresql://user@host:5432/db"
        )
    scheme = url.split("://", 1)[0].lower()
    backend = _SCHEMES.get(scheme)
    if backend is None:
        raise InvalidStoreURL(
            f"unsupported store URL scheme {scheme!r}; use sqlite:/// or postgresql://"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidStoreURL(f"malformed store URL: {_scrub_error(str(e), url)}") from None
    if port == 0:
        raise InvalidStoreURL("store URL port must be between 1 and 65535, got 0")
    settings = _settings(parts.query, backend)
    if backend == "sqlite":
        if parts.netloc:
            raise InvalidStoreURL("a sqlite URL has three slashes: sqlite:///path/to/ledger.db")
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not path:
            raise InvalidStoreURL("sqlite URL needs a file: sqlite:///path/to/ledger.db")
        if path == ":memory:":
            memory_uri = f"file:deployledger-{uuid.uuid4().hex}?mode=memory&cache=shared"
            return StoreURL("sqlite", path=memory_uri, memory=True, **settings)  # type: ignore[arg-type]
        return StoreURL("sqlite", path=path, **settings)  # type: ignore[arg-type]
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise InvalidStoreURL("postgresql URL needs a database: postgresql://user@host:5432/db")
    schema = str(settings.pop("schema", "public"))
    if not _SCHEMA_NAME.match(schema):
        raise InvalidStoreURL(f"schema must be a plain SQL identifier, got {schema!r}")
    return StoreURL(
        "postgres",
        host=parts.hostname or "127.0.0.1",
        port=port or 5432,
        user=unquote(parts.username) if parts.username else "postgres",
        password=unquote(parts.password) if parts.password else "",
        dbname=dbname,
        schema=schema,
        **settings,  # type: ignore[arg-type]
    )


def _settings(query: str, backend: str) -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _ALLOWED[backend]:
            allowed = ", ".join(sorted(_ALLOWED[backend]))
            raise InvalidStoreURL(f"unknown store URL setting {key!r}; known: {allowed}")
        if key in _NUMERIC:
            try:
                number = int(value) if key in _INTEGER else float(value)
            except ValueError:
                raise InvalidStoreURL(f"{key} must be a number, got {value!r}") from None
            if not math.isfinite(number) or number <= 0:
                raise InvalidStoreURL(f"{key} must be a positive number, got {value!r}")
            out[key] = number
        else:
            out[key] = value
    return out


def _scrub_error(text: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
