"""Helpers for the integration tests: report builders, and workers for child processes.

Workers live here, in an importable module, because "spawn" children import them by name.
"""

from __future__ import annotations

import traceback
from typing import Any

from deployledger import Ledger

TENANT = "t1"
RT_ID = "64f1c0ffee0000000000beef"
PASSWORD = "s3cret" + "pw"  # built, so that no traceback source line shows it whole


def report(**overrides: Any) -> dict[str, Any]:
    """A valid camelCase report; `overrides` replace fields (a value of ... drops the key)."""
    data: dict[str, Any] = {
        "tenantId": TENANT,
        "poolName": "pool-a",
        "workloadName": "billing-api",
        "workloadRtId": RT_ID,
        "success": True,
        "statusMessage": None,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def with_password(url: str, password: str = PASSWORD) -> str:
    """The same PostgreSQL URL with a password (the test server trusts, so it is ignored)."""
    scheme, rest = url.split("://", 1)
    userinfo, hostpart = rest.split("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{hostpart}"


def record_in_child(url: str, worker: int, count: int, barrier: Any, errors: Any) -> None:
    """Open a Ledger of its own, wait for the others, then record `count` reports."""
    try:
        with Ledger.open(url) as ledger:
            barrier.wait(timeout=60)
            for n in range(count):
                ledger.record(report(messageId=f"w{worker}-{n}", success=n % 3 != 0))
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise


def open_with_create_in_child(url: str, worker: int, barrier: Any, errors: Any) -> None:
    """Wait for the others, then open the store with create=True."""
    try:
        barrier.wait(timeout=60)
        with Ledger.open(url, create=True):
            pass
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
        raise
