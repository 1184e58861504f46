import email.utils
import time
from types import SimpleNamespace

from kkimage.transport import RetryPolicy, retry_after


def after(value: str) -> RetryPolicy:
    """The policy's state after an answer with `Retry-After: value`, capped at 30 s."""
    answer = SimpleNamespace(headers={"Retry-After": value})
    return RetryPolicy(max_retry_after=30)._replace(failures=1, retry_after=retry_after(answer))


def test_retry_after_seconds_and_dates_are_honoured_and_capped():
    assert after("7").delay() == 7
    assert after("3600").delay() == 30
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3 <= after(date).delay() <= 5.5
    assert after("soon").retry_after is None  # unreadable: the backoff instead


def test_backoff_grows_and_is_bounded():
    policy = RetryPolicy(backoff=1, max_backoff=4)
    assert 0.5 <= policy.delay(1) <= 1
    assert 2 <= policy.delay(3) <= 4
    assert policy.delay(10) <= 4


def test_which_statuses_are_retried():
    policy = RetryPolicy()
    assert all(policy.retries_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(policy.retries_status(s) for s in (400, 401, 403, 404))
