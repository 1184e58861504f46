"""Concurrency for one run: images in parallel, blobs in one bounded pool shared by all images.

A blob needed by several images is transferred once (`once`). The first failure stops the
run: pending work is cancelled, running transfers notice `cancelled` between chunks, and the
error is reported for the image it belongs to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from ..errors import KkImageError
from ..progress import Progress
from ..transports import BlobOutcome

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class ImageResult:
    """One image's outcome, as printed and as written by --json."""

    operation: str
    source: str
    destination: str
    status: str = "ok"  # ok | skipped
    source_digest: str | None = None
    destination_digest: str | None = None
    platforms: list[str] = field(default_factory=list)
    bytes_transferred: int = 0
    bytes_skipped: int = 0
    bytes_mounted: int = 0
    blobs: int = 0
    message: str | None = None

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
        return asdict(self)


def _settle(future: Future[T], work: Callable[[], T]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(work())
    except BaseException as exc:  # handed to whoever waits for the future
        future.set_exception(exc)


class Engine:
    def __init__(self, jobs: int, progress: Progress, warn: Callable[[str], None]) -> None:
        self.jobs = max(1, jobs)
        self.progress = progress
        self.warn = warn
        self.cancelled = threading.Event()
        self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="kkimage-blob")
        self._once: dict[object, Future[Any]] = {}
        self._lock = threading.Lock()

    def once(self, key: object, work: Callable[[], T]) -> tuple[Future[T], bool]:
        """Run `work` in the blob pool unless work under `key` was already started.

        Returns the future and whether this call started it.
        """
        with self._lock:
            future = self._once.get(key)
            if future is not None:
                return future, False
            future = self._once[key] = Future()
        # Submitted outside the lock: submit() may start a thread, which waits for the GIL,
        # and every other image would wait behind it.
        self._pool.submit(_settle, future, work)
        return future, True

    def for_each(
        self, items: Iterable[T], work: Callable[[T], R], label: Callable[[T], str]
    ) -> list[R]:
        """`work` on every item, several at once; results in item order.

        The first error stops the run and is raised with the item's label as context.
        """
        items = list(items)
        if not items:
            return []
        images = ThreadPoolExecutor(min(self.jobs, len(items)), thread_name_prefix="kkimage-img")
        futures = [images.submit(work, item) for item in items]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: stop the transfers, then let it through
            self._stop(images)
            raise
        failures = [
            (i, f) for i, f in zip(items, futures, strict=True) if f in done and f.exception()
        ]
        if failures:
            self._stop(images)
            item, future = failures[0]
            error = future.exception()
            if isinstance(error, KkImageError):
                error.add_context(label(item))
            raise error  # type: ignore[misc]
        images.shutdown()
        return [f.result() for f in futures]

    def _stop(self, images: ThreadPoolExecutor) -> None:
        self.cancelled.set()
        images.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for future in self._once.values():
            future.cancel()  # work the pool dropped: nobody may wait for it forever

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
