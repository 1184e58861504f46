"""Concurrency for one run: images in parallel, blobs in one bounded pool shared by all images.

A blob needed by several images is transferred once (`once`). The first failure stops the
run unless it keeps going: pending work is cancelled, running transfers notice `cancelled`
between chunks, and every failure known by then is reported for the image it belongs to.
An interrupt (Ctrl-C, SIGTERM) stops the same way, waiting at most `GRACE` seconds for
transfers blocked in the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..errors import Cancelled, KkImageError
from ..pool import Future, Pool, wait
from ..progress import Progress
from ..transports import BlobOutcome

T = TypeVar("T")
R = TypeVar("R")
GRACE = 1.0  # seconds an interrupted run waits for its transfers to notice


class Failed(KkImageError):
    """An item's failure as `for_each` returns it: the error, with the item as context."""


class ImageResult:
    """One image's outcome, as printed and as written by --json (its fields, in this order)."""

    def __init__(
        self,
        operation: str,
        source: str,
        destination: str,
        status: str = "ok",  # ok | skipped | failed | cancelled (not finished: the run stopped)
        source_digest: str | None = None,
        error: str | None = None,  # why it failed or was cancelled
    ) -> None:
        self.operation, self.source, self.destination = operation, source, destination
        self.status = status
        self.source_digest = source_digest
        self.destination_digest: str | None = None
        self.platforms: list[str] = []
        self.bytes_transferred = 0
        self.bytes_skipped = 0
        self.bytes_mounted = 0
        self.blobs = 0
        self.message: str | None = None  # why it was skipped
        self.error = error

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "cancelled")

    def add(self, outcome: BlobOutcome, owned: bool) -> None:
        """Count a blob; bytes another image moved in this run count as skipped here."""
        self.blobs += 1
        if owned:
            self.bytes_transferred += outcome.transferred
            self.bytes_skipped += outcome.skipped
            self.bytes_mounted += outcome.mounted
        else:
            self.bytes_skipped += outcome.transferred + outcome.skipped + outcome.mounted

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


class Engine:
    def __init__(self, jobs: int, progress: Progress, warn: Callable[[str], None]) -> None:
        self.jobs = max(1, jobs)
        self.progress = progress
        self.warn = warn
        self.cancelled = threading.Event()
        self._pool = Pool(self.jobs, "kkimage-blob")
        self._once: dict[object, Future[Any]] = {}
        self._lock = threading.Lock()
        self._stopped = False  # interrupted: close() does not wait for the pool
        self.keep_going = False  # failures do not stop the run (set per task by run_tasks)

    def once(self, key: object, work: Callable[[], T]) -> tuple[Future[T], bool]:
        """Run `work` in the blob pool unless work under `key` was already started.

        Returns the future and whether this call started it.
        """
        with self._lock:
            future = self._once.get(key)
            if future is not None:
                return future, False
            future = self._once[key] = Future()
        # Handed on outside the lock: run() may start a thread, which waits for the GIL, and
        # every other image would wait behind it.
        self._pool.run(future, work)
        return future, True

    def for_each(
        self,
        items: Iterable[T],
        work: Callable[[T], R],
        label: Callable[[T], str],
    ) -> list[R | Failed | Cancelled]:
        """`work` on every item, several at once; outcomes in item order.

        An item's KkImageError is returned as `Failed`, prefixed with its label. Unless
        `keep_going` is set, the first one stops the run: items not finished by then are
        `Cancelled`.
        """
        keep_going = self.keep_going
        items = list(items)
        if not items:
            return []
        images = Pool(min(self.jobs, len(items)), "kkimage-img")
        futures: list[Future[R]] = []
        try:
            # Submitted inside the try: Ctrl-C may land while submit() waits for a new thread,
            # whose image is transferring already; it must stop the run like any other.
            futures.extend(images.submit(work, item) for item in items)
            wait(futures, first_failure=not keep_going)
            if not keep_going and any(f.failed() for f in futures):
                self.cancelled.set()  # the rest end at their next chunk, nothing half-written
                images.shutdown(wait=True, cancel_pending=True)
        except BaseException:  # Ctrl-C, SIGTERM: stop the transfers, then let it through
            self.stop(images, futures)
            raise
        images.shutdown()
        return [self._outcome(f, label(item)) for item, f in zip(items, futures, strict=True)]

    @staticmethod
    def _outcome(future: Future[R], label: str) -> R | Failed | Cancelled:
        if future.cancelled():
            return Cancelled()
        error = future.exception()
        if error is None:
            return future.result()
        if isinstance(error, Cancelled):
            return error
        if isinstance(error, KkImageError):
            # A blob's error may be shared by several images: the exception is not changed.
            message = str(error)
            return Failed(message if message.startswith(label) else f"{label}: {message}")
        raise error

    def stop(self, images: Pool, futures: list[Future[Any]]) -> None:
        """Cancel everything; wait at most GRACE seconds for running work to notice (a
        transfer blocked in the network may not: the caller exits without it)."""
        self.cancelled.set()
        self._stopped = True
        for pool in (images, self._pool):
            pool.shutdown(wait=False, cancel_pending=True)
        wait([*futures, *self._once.values()], timeout=GRACE)

    def close(self) -> None:
        self.cancelled.set()
        self._pool.shutdown(wait=not self._stopped, cancel_pending=True)
        for future in self._once.values():
            future.cancel()  # work the pool dropped: nobody may wait for it forever

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
