"""Prometheus metrics (`GET /metrics`, text format).

- `deployledger_reports_received_total{kind,outcome}`: messages received by POST
  /v1/reports; outcome `accepted` (stored), `duplicate` (already stored) or `rejected`
  (invalid, or for a tenant the token does not hold; nothing stored);
- `deployledger_record_duration_seconds`: histogram of the time to record one request's
  messages (one transaction);
- `deployledger_commit_batch_messages`, `deployledger_commit_seconds`: histograms of the
  group commit's batches: messages per transaction, and each transaction's time;
- `deployledger_http_requests_total{route,method,status}`: requests by route template;
- `deployledger_read_model_lag_events`, `deployledger_read_model_lag_seconds`: how far the
  read model is behind the event store, measured at the scrape;
- `deployledger_replica_lag_events`, `deployledger_replica_lag_seconds` (with a read store
  only): the events on the primary that the standby's read model has not applied, and,
  while it is behind, the seconds since the primary committed the last transaction the
  standby replayed (`now() - pg_last_xact_replay_timestamp()` on the standby); both 0 when
  it has caught up;
- `deployledger_overdue_workloads`: deploys waiting for their outcome longer than 15 minutes;
- `deployledger_store_up`: 1 if the store answered the scrape's queries, else 0.

With several workers, `serve` sets `PROMETHEUS_MULTIPROC_DIR` and the counters of every
worker are summed (prometheus-client's multiprocess mode); the gauges are measured by the
worker that answers the scrape.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from deployledger import DeployLedgerError, Ledger, Sink, StoreServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTCOMES = ("accepted", "duplicate", "rejected")
KINDS = ("request", "progress", "outcome", "undeploy", "unknown")
# No `*_created` series: they would double the output and tell nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]
RECORD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class LagClock:
    """When the service first saw each event the read model has not applied yet, so the
    lag in seconds is the age of the oldest one (at the resolution of `RESOLUTION`)."""

    RESOLUTION = 0.1

    def __init__(self) -> None:
        self._seen: deque[tuple[int, float]] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def saw(self, position: int, at: float | None = None) -> None:
        """Events up to `position` exist (at `at`, default now)."""
        at = time.monotonic() if at is None else at
        with self._lock:
            if self._seen and position <= self._seen[-1][0]:
                return
            if self._seen and at - self._seen[-1][1] < self.RESOLUTION:
                self._seen[-1] = (position, self._seen[-1][1])
            else:
                self._seen.append((position, at))

    def lag_seconds(self, read_position: int, now: float | None = None) -> float:
        """Seconds since the oldest event after `read_position` was first seen (0 if none)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._seen and self._seen[0][0] <= read_position:
                self._seen.popleft()
            return max(0.0, now - self._seen[0][1]) if self._seen else 0.0


@dataclass(frozen=True, slots=True)
class Live:
    """What a scrape measures: the read model's lag and the overdue count."""

    up: bool
    lag_events: int = 0
    lag_seconds: float = 0.0
    overdue: int = 0
    reason: str | None = None
    server: StoreServer | None = None  # asked for by /readyz only
    replica: tuple[int, float] | None = None  # with a read store: its lag (events, seconds)
    sinks: tuple[Sink, ...] = ()  # the notification sinks: lag and dead letters


def measure(ledger: Ledger, clock: LagClock, *, overdue: bool = True, server: bool = False) -> Live:
    """Ask the store (blocking). A store error is a `Live` that is not up, with the reason.
    With `server`, also which server writes go to (PostgreSQL)."""
    try:
        writes_to = ledger.store_server() if server else None
        read = ledger.read_position()
        top = ledger.max_position()
        clock.saw(top)
        replica = ledger.replica_lag()
        lag = Live(
            True,
            max(0, top - read),
            clock.lag_seconds(read),
            server=writes_to,
            replica=replica,
            sinks=tuple(ledger.sinks.list()),
        )
        if not overdue:
            return lag
        return replace(lag, overdue=len(ledger.overdue()))
    except DeployLedgerError as e:
        return Live(False, reason=str(e))


class _LiveCollector(Collector):
    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterable[Metric]:
        live = self.live
        yield GaugeMetricFamily(
            "deployledger_store_up", "1 if the store answered this scrape, else 0", int(live.up)
        )
        if not live.up:
            return
        yield GaugeMetricFamily(
            "deployledger_read_model_lag_events",
            "Events stored but not yet applied to the read model",
            live.lag_events,
        )
        yield GaugeMetricFamily(
            "deployledger_read_model_lag_seconds",
            "Age of the oldest event not yet applied to the read model",
            live.lag_seconds,
        )
        if live.replica is not None:
            yield GaugeMetricFamily(
                "deployledger_replica_lag_events",
                "Events on the primary the read store's read model has not applied yet",
                live.replica[0],
            )
            yield GaugeMetricFamily(
                "deployledger_replica_lag_seconds",
                "While the read store is behind: seconds since the primary committed the last "
                "transaction it replayed (0 when caught up)",
                live.replica[1],
            )
        if live.sinks:
            families = (
                ("lag_events", "Events stored after the sink's cursor", "lag_events"),
                (
                    "dead_letters",
                    "Deliveries the sink gave up on (see `sink retry`)",
                    "dead_letters",
                ),
                ("failures", "Failed tries of the delivery at the sink's head", "failures"),
                ("delivered", "Deliveries the sink answered with a 2xx", "delivered"),
                (
                    "position",
                    "The sink's cursor: the last position delivered or given up",
                    "position",
                ),
            )
            for suffix, text, attribute in families:
                family = GaugeMetricFamily(f"deployledger_sink_{suffix}", text, labels=["sink"])
                for sink in live.sinks:
                    family.add_metric([sink.name], getattr(sink, attribute))
                yield family
        yield GaugeMetricFamily(
            "deployledger_overdue_workloads",
            "Workloads whose latest deploy request has waited over 15 minutes for its outcome",
            live.overdue,
        )


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class Metrics:
    """The counters of one app (one registry each, so apps in one process stay apart)."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        target = None if self.multiprocess else self.registry
        self.reports = Counter(
            "deployledger_reports_received",
            "Messages received by POST /v1/reports, by kind and outcome",
            ["kind", "outcome"],
            registry=target,
        )
        self.record_duration = Histogram(
            "deployledger_record_duration_seconds",
            "Time to record the messages of one POST /v1/reports (one transaction)",
            buckets=RECORD_BUCKETS,
            registry=target,
        )
        self.commit_batch = Histogram(
            "deployledger_commit_batch_messages",
            "Messages appended per group-commit transaction",
            buckets=BATCH_BUCKETS,
            registry=target,
        )
        self.commit_seconds = Histogram(
            "deployledger_commit_seconds",
            "Time of each group-commit transaction",
            buckets=RECORD_BUCKETS,
            registry=target,
        )
        self.requests = Counter(
            "deployledger_http_requests",
            "HTTP requests, by route template, method and status code",
            ["route", "method", "status"],
            registry=target,
        )
        self.clock = LagClock()

    def committed(self, messages: int, seconds: float) -> None:
        """One group-commit batch: its size and its transaction's time."""
        self.commit_batch.observe(messages)
        self.commit_seconds.observe(seconds)

    def received(self, kind: str, outcome: str, count: int = 1) -> None:
        self.reports.labels(kind if kind in KINDS else "unknown", outcome).inc(count)

    def exposition(self, live: Live) -> bytes:
        """The text format of every metric, the gauges of `live` included."""
        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess:
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Delegate(self.registry))
        registry.register(_LiveCollector(live))
        return generate_latest(registry)
