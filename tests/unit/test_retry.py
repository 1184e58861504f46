import email.utils
import time

import requests

from kkimage.transport import RetryPolicy


def response(status, retry_after=None):
    r = requests.Response()
    r.status_code = status
    if retry_after is not None:
        r.headers["Retry-After"] = retry_after
    return r


def test_retry_after_seconds_and_dates_are_honoured_and_capped():
    policy = RetryPolicy(max_retry_after=30)
    assert policy.delay(1, response(429, "7")) == 7
    assert policy.delay(1, response(429, "3600")) == 30
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3 <= policy.delay(1, response(503, date)) <= 5.5


def test_backoff_grows_and_is_bounded():
    policy = RetryPolicy(backoff=1, max_backoff=4)
    assert 0.5 <= policy.delay(1) <= 1
    assert 2 <= policy.delay(3) <= 4
    assert policy.delay(10) <= 4


def test_which_statuses_are_retried():
    policy = RetryPolicy()
    assert all(policy.retries_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(policy.retries_status(s) for s in (400, 401, 403, 404))
