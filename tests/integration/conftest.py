"""Integration fixtures: a store with its schema, and an open ledger on it (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployledger import Ledger


@pytest.fixture
def backend(store_url: str) -> str:
    return "postgres" if store_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def ready_url(store_url: str) -> str:
    """The `store_url` store with the deployledger schema created (empty otherwise)."""
    with Ledger.open(store_url, create=True):
        pass
    return store_url


@pytest.fixture
def ledger(ready_url: str) -> Iterator[Ledger]:
    """An open ledger on a fresh store; closed afterwards."""
    with Ledger.open(ready_url) as opened:
        yield opened
