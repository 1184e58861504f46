"""Threads for a run: work handed to at most `size` threads, each started when work arrives
and no thread is idle; each piece of work's outcome is a `Future`.

Not concurrent.futures: importing it loads logging (with traceback, linecache, tokenize and
string), 4 ms of a small pull's start-up (docs/performance.md); the engine needs this much.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

from .errors import Cancelled

T = TypeVar("T")

_PENDING, _RUNNING, _DONE, _CANCELLED = range(4)
_state_lock = threading.Lock()  # every future's state; held only to change or read it


class Future(Generic[T]):
    """The outcome of work that may not have finished: a result, an exception, or
    cancelled (then `result()` raises Cancelled)."""

    __slots__ = ("_exception", "_result", "_state", "_waiters")

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._waiters: list[threading.Event] = []

    def set_running_or_notify_cancel(self) -> bool:
        """Running from now on, unless it was cancelled (False: the work must not run)."""
        with _state_lock:
            if self._state == _CANCELLED:
                return False
            self._state = _RUNNING
            return True

    def set_result(self, result: T) -> None:
        self._end(_DONE, result, None)

    def set_exception(self, exception: BaseException) -> None:
        self._end(_DONE, None, exception)

    def cancel(self) -> bool:
        """Cancelled, unless its work has started."""
        self._end(_CANCELLED, None, None, only_if_pending=True)
        return self._state == _CANCELLED

    def _end(
        self, state: int, result: T | None, exception: BaseException | None, only_if_pending=False
    ) -> None:
        with _state_lock:
            if only_if_pending and self._state != _PENDING:
                return
            self._state, self._result, self._exception = state, result, exception
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    def done(self) -> bool:
        return self._state >= _DONE

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def failed(self) -> bool:
        return self._state == _DONE and self._exception is not None

    def result(self) -> T:
        """Its result, once it has one; its exception raised; Cancelled if it was."""
        if self.exception() is not None:
            raise self._exception  # type: ignore[misc]
        return self._result  # type: ignore[return-value]

    def exception(self) -> BaseException | None:
        wait([self])
        if self._state == _CANCELLED:
            raise Cancelled()
        return self._exception


def wait(
    futures: Iterable[Future[Any]], first_failure: bool = False, timeout: float | None = None
) -> None:
    """Until every future is done, or (`first_failure`) one has failed, or `timeout` seconds
    have passed."""
    futures = list(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    woken = threading.Event()
    while True:
        with _state_lock:
            pending = [f for f in futures if f._state < _DONE]
            if not pending or (first_failure and any(f.failed() for f in futures)):
                return
            woken.clear()
            for future in pending:
                if woken not in future._waiters:
                    future._waiters.append(woken)
        left = None if deadline is None else deadline - time.monotonic()
        if (left is not None and left <= 0) or not woken.wait(left):
            return


class Pool:
    """At most `size` threads running what is submitted, in the order it was."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._work: SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)  # a permit for each thread waiting for work

    def submit(self, work: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self.run(future, lambda: work(*args))
        return future

    def run(self, future: Future[T], work: Callable[[], T]) -> None:
        """`work` in a thread, its outcome into `future`."""
        self._work.put((future, work))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self.size:
            thread = threading.Thread(
                target=self._serve, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            future, work = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:  # handed to whoever waits for the future
                    future.set_exception(exc)
            del item, future, work  # no reference kept while idle
            self._idle.release()
        self._work.put(None)  # for the next thread

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """No more work; what has not started is cancelled if asked; the threads end once
        they are done (waited for if `wait`)."""
        if cancel_pending:
            while not self._work.empty():
                item = self._work.get_nowait()
                if item is not None:
                    item[0].cancel()
        self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
