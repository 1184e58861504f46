"""How a run stops: an interrupt never waits for a transfer blocked in the network."""

from __future__ import annotations

import threading
import time

import pytest

from kkimage.ops.engine import GRACE, Engine
from kkimage.pool import Pool
from kkimage.progress import Progress


def test_an_interrupt_while_an_image_is_being_submitted_stops_the_run(monkeypatch):
    """Ctrl-C can land while the main thread is still in submit() (which may wait for the new
    thread), the image's blob already transferring: the run stops within the grace period,
    as from anywhere else. It used to wait for the transfer to end (here 30 s)."""
    blocked = threading.Event()  # a blob transfer blocked in the network

    def image(item: int) -> bool:
        future, _ = engine.once(("blob", item), lambda: blocked.wait(30))
        return future.result()

    submit = Pool.submit

    def submit_then_interrupted(pool, fn, /, *args, **kwargs):
        future = submit(pool, fn, *args, **kwargs)
        if fn is image:
            time.sleep(0.1)  # the image thread starts its blob
            raise KeyboardInterrupt
        return future

    monkeypatch.setattr(Pool, "submit", submit_then_interrupted)
    engine = Engine(2, Progress(), warn=lambda message: None)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt), engine:
            engine.for_each([1], image, label=str)
        assert time.monotonic() - started < GRACE + 1.5
        assert engine.cancelled.is_set()
    finally:
        blocked.set()
