"""The run's threads: outcomes, waiting, cancelling, and never more threads than asked."""

from __future__ import annotations

import threading
import time

import pytest

from kkimage.errors import Cancelled
from kkimage.pool import Future, Pool, wait


def test_outcomes_are_the_works_results_and_exceptions():
    pool = Pool(2, "t")
    good, bad = pool.submit(lambda x: x * 2, 21), pool.submit(lambda: 1 / 0)
    assert good.result() == 42
    assert isinstance(bad.exception(), ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        bad.result()
    assert bad.failed() and not good.failed()
    pool.shutdown()


def test_work_runs_on_at_most_size_threads_at_once_and_an_idle_thread_is_reused():
    pool = Pool(3, "t")
    assert pool.submit(lambda: 1).result() == 1
    pool.submit(lambda: 2).result()
    assert len(pool._threads) == 1  # idle, so it took the second piece of work
    gate, running, lock = threading.Event(), [0], threading.Lock()
    most = [0]

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1

    futures = [pool.submit(work) for _ in range(8)]
    deadline = time.monotonic() + 5
    while running[0] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # a fourth thread, if there were one, would be running by now
    gate.set()
    wait(futures)
    assert most[0] == 3
    assert len(pool._threads) == 3
    pool.shutdown()
    assert not any(thread.is_alive() for thread in pool._threads)


def test_waiting_for_the_first_failure_does_not_wait_for_the_rest():
    pool = Pool(2, "t")
    gate = threading.Event()
    slow, failing = pool.submit(gate.wait, 5), pool.submit(lambda: 1 / 0)
    started = time.monotonic()
    wait([slow, failing], first_failure=True)
    assert time.monotonic() - started < 2
    assert failing.failed() and not slow.done()
    gate.set()
    wait([slow, failing])
    assert slow.done()
    pool.shutdown()


def test_waiting_ends_at_its_timeout():
    pool = Pool(1, "t")
    gate = threading.Event()
    future = pool.submit(gate.wait, 5)
    started = time.monotonic()
    wait([future], timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2
    assert not future.done()
    gate.set()
    pool.shutdown()


def test_shutting_down_cancels_what_has_not_started_and_lets_the_rest_finish():
    pool = Pool(1, "t")
    started, gate = threading.Event(), threading.Event()
    running = pool.submit(lambda: started.set() or gate.wait(5))
    assert started.wait(5)
    queued = pool.submit(lambda: "never")
    assert not running.cancel()  # started: it cannot be
    pool.shutdown(wait=False, cancel_pending=True)
    assert queued.cancelled()
    with pytest.raises(Cancelled):
        queued.result()
    gate.set()
    assert running.result() is True


def test_a_future_waited_for_in_several_threads_wakes_them_all():
    future: Future[int] = Future()
    seen: list[int] = []
    waiters = [threading.Thread(target=lambda: seen.append(future.result())) for _ in range(4)]
    for thread in waiters:
        thread.start()
    time.sleep(0.1)
    assert future.set_running_or_notify_cancel()
    future.set_result(7)
    for thread in waiters:
        thread.join(5)
    assert seen == [7, 7, 7, 7]
