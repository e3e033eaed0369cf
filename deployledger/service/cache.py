"""Workloads kept in memory between writes, and the per-workload locks of one process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from deployledger.domain.workload.aggregate import Workload

DEFAULT_CACHE_SIZE = 1000
_STRIPES = 64


class WorkloadCache:
    """An LRU of workload aggregates, with striped locks so that writes to one workload
    in one process never race each other (other processes are handled by versions)."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self.size = size
        self._workloads: OrderedDict[UUID, Workload] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    @contextmanager
    def locked(self, workloads: Iterable[UUID]) -> Iterator[None]:
        """Hold the locks of these workloads (in a fixed order: no deadlock)."""
        stripes = sorted({workload.int % _STRIPES for workload in workloads})
        for stripe in stripes:
            self._stripes[stripe].acquire()
        try:
            yield
        finally:
            for stripe in reversed(stripes):
                self._stripes[stripe].release()

    def take(self, workload: UUID) -> Workload | None:
        """Remove and return the cached workload: while in use, nothing stale stays behind
        if a write fails half-way."""
        with self._lock:
            return self._workloads.pop(workload, None)

    def put(self, workload: Workload) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._workloads[workload.id] = workload
            while len(self._workloads) > self.size:
                self._workloads.popitem(last=False)
