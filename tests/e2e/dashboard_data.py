"""What the dashboard tests look at: a store seeded with the examples, a hostile message,
two deploys that never reported back, and tokens of every kind. No fixtures here.

`seed(url)` fills an empty store (SQLite file or migrated PostgreSQL database) and returns
`Seeded`: the URL, the tokens, and the fleet as the library answers it, to check the
pages against.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from support import EXAMPLES, create_database, drop_database, progress, report, request

from deployledger import Ledger, WorkloadState

LIFECYCLE = EXAMPLES.parent / "lifecycle.jsonl"

HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAME = "<i>xss-app</i>"
XSS_TENANT = "acme-prod"
XSS_RT_ID = "64f1c0ffee00000000000bad"

LATE_TENANT = "late-co"
LATE_OLD = "65aa00000000000000000001"  # requested 2 hours ago: overdue at 15m and 1h
LATE_NEW = "65aa00000000000000000002"  # requested 5 minutes ago: overdue only below 5m
LATE_PROGRESS = "Pod late-app-0 container 'app' waiting: ImagePullBackOff"

BOUND_TENANT = "acme-prod"  # the tenant-bound token's only tenant

# A sender spoofing what on-call reads: a bidi override (U+202E shows "live" as "evil") and
# ANSI colour, in an operator-wrapped failure and in a progress message.
SPOOF_TENANT = "acme-prod"
SPOOF_FAILED = "66bb00000000000000000001"
SPOOF_PENDING = "66bb00000000000000000002"
SPOOF_MESSAGE = (
    "helm repo add grafana failed with exit code 1. stderr: Error: looks like "
    '"https://grafana.github.io/helm-charts" is not a valid chart repository or cannot be '
    "reached: \x1b[31mfailed\x1b[0m to fetch \u202elive\u202c index"
)
SPOOF_PROGRESS = "Pod spoof-0 container 'app' waiting: \u202elive\u202c \x07"


@dataclass(frozen=True)
class Seeded:
    url: str
    admin: str  # read + write, every tenant
    bound: str  # read, acme-prod only
    write_only: str  # write, every tenant: no read scope
    revoked: str
    fleet: list[WorkloadState]

    def of(self, tenant: str) -> list[WorkloadState]:
        return [w for w in self.fleet if w.tenant_id == tenant]


def _lines(path: Any) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def hostile_messages() -> list[dict[str, Any]]:
    """A workload whose every text is markup: two attempts, the last failing with a script."""
    common: dict[str, Any] = {"tenant": XSS_TENANT, "name": HOSTILE_NAME, "pool": "<b>pool</b>"}
    return [
        report(XSS_RT_ID, success=True, message="deployed", messageId="xss-1", **common),
        report(XSS_RT_ID, success=False, message=HOSTILE, messageId="xss-2", **common),
    ]


def spoof_messages() -> list[dict[str, Any]]:
    """A failure and a progress message holding bidi and ANSI characters, recorded now."""
    return [
        report(
            SPOOF_FAILED,
            tenant=SPOOF_TENANT,
            name="spoof-app",
            pool="pool-eu-1",
            success=False,
            message=SPOOF_MESSAGE,
            messageId="spoof-1",
        ),
        request(
            SPOOF_PENDING,
            tenant=SPOOF_TENANT,
            name="spoof-pending",
            chart="spoof-chart",
            version="1.0.0",
            messageId="spoof-2",
        ),
        progress(
            SPOOF_PENDING,
            SPOOF_PROGRESS,
            tenant=SPOOF_TENANT,
            name="spoof-pending",
            messageId="spoof-3",
        ),
    ]


def late_messages() -> list[dict[str, Any]]:
    """Two deploy requests that never got an outcome: 2 hours and 5 minutes old."""
    old_at, new_at = _ago(timedelta(hours=2)), _ago(timedelta(minutes=5))
    return [
        request(
            LATE_OLD,
            tenant=LATE_TENANT,
            name="late-app",
            chart="late-chart",
            version="1.0.0",
            messageId="late-1",
            reportedAt=old_at,
        ),
        progress(
            LATE_OLD,
            LATE_PROGRESS,
            tenant=LATE_TENANT,
            name="late-app",
            messageId="late-2",
            reportedAt=old_at,
        ),
        request(
            LATE_NEW,
            tenant=LATE_TENANT,
            name="fresh-app",
            chart="fresh-chart",
            version="2.0.0",
            messageId="late-3",
            reportedAt=new_at,
        ),
    ]


def seed(url: str) -> Seeded:
    with Ledger.open(url, create=True) as ledger:
        ledger.record_many(_lines(EXAMPLES))
        ledger.record_many(_lines(LIFECYCLE))
        ledger.record_many(hostile_messages())
        ledger.record_many(late_messages())
        ledger.record_many(spoof_messages())
        _, admin = ledger.tokens.create(admin=True, name="dashboard-admin")
        _, bound = ledger.tokens.create(tenants=[BOUND_TENANT], scopes=["read"], name="acme-ro")
        _, write_only = ledger.tokens.create(admin=True, scopes=["write"], name="writer")
        gone, revoked = ledger.tokens.create(admin=True, name="gone")
        ledger.tokens.revoke(gone.token_id)
        fleet = ledger.workloads()
    return Seeded(url, admin, bound, write_only, revoked, fleet)


@contextmanager
def seeded_store(backend: str, tmp: Path, admin_dsn: str | None) -> Iterator[Seeded]:
    """A seeded store on `backend`: a SQLite file in `tmp`, or a new PostgreSQL database
    beside `admin_dsn` (dropped afterwards)."""
    if backend == "sqlite":
        yield seed(f"sqlite:///{tmp / 'ledger.db'}")
        return
    assert admin_dsn is not None
    url = create_database(admin_dsn, prefix="dl_dash")
    try:
        yield seed(url)
    finally:
        drop_database(admin_dsn, url)


# ---------------------------------------------------------------------------------------
# A page as a tree (the standard library's parser; enough for the dashboard's own markup)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str]

    @property
    def text(self) -> str:
        """The text inside, as the browser would show it (entities decoded)."""
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str, cls: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, str):
                continue
            matches = child.tag == tag and (cls is None or cls in child.classes)
            wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
            if matches and all(child.attrs.get(k) == v for k, v in wanted.items()):
                found.append(child)
            found += child.find_all(tag, cls, **attrs)
        return found

    def find(self, tag: str, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag}> {cls or ''} {attrs} in the page"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
