"""A follower through an outage: it tries again every second at most, and reports the same
outage once per `OUTAGE_REPEAT_EVERY` seconds, not on every try (a long outage would flood
`serve`'s log and `project --follow`'s stderr)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

from support import engine_for, projection_runner

from deployledger import Ledger, StoreUnavailable
from deployledger.store.readmodel import runner as runner_module


def follow_through(tmp_path: Path, seconds: float, outage: Any) -> tuple[list[float], list[str]]:
    """Follow for `seconds` while every session fails with `outage(try number)`; return
    when each session began (seconds from the start) and what `on_outage` was told."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    tries: list[float] = []
    told: list[str] = []
    with Ledger.open(url) as ledger, engine_for(url) as engine:
        runner = projection_runner(ledger, engine)
        started = time.monotonic()

        def failing(*_: Any) -> None:
            tries.append(time.monotonic() - started)
            outage(len(tries))

        runner._follow_session = failing  # type: ignore[method-assign,assignment]
        stop = threading.Event()
        thread = threading.Thread(
            target=runner.follow, kwargs={"stop": stop, "on_outage": lambda e: told.append(str(e))}
        )
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()
    return tries, told


def test_the_same_outage_is_reported_once_and_tried_every_second(tmp_path: Path) -> None:
    def down(_: int) -> None:
        raise StoreUnavailable("store is unavailable: connection refused")

    tries, told = follow_through(tmp_path, 3.2, down)
    assert told == ["store is unavailable: connection refused"]
    assert len(tries) >= 4, tries  # 0, 0.5, 1.5, 2.5 s
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert max(gaps) < runner_module.OUTAGE_BACKOFF_MAX + 0.5, gaps


def test_a_different_outage_is_reported_at_once(tmp_path: Path) -> None:
    def changing(n: int) -> None:
        raise StoreUnavailable(f"store is unavailable: reason {n % 2}")

    tries, told = follow_through(tmp_path, 1.8, changing)
    assert len(tries) >= 3
    assert told == [f"store is unavailable: reason {n % 2}" for n in range(1, len(tries) + 1)]
