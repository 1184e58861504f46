"""HTTP for registries: TLS settings per endpoint, proxies from the environment, and the one
retry policy every registry operation follows (`retrying`)."""

from __future__ import annotations

import functools
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils

from .errors import Cancelled, RegistryError, TlsError, TransportError

TIMEOUT = (15, 120)  # connect, and between two reads
USER_AGENT = "kkimage/0.1"
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying an operation again, and how many failures it
    has had: immutable, `increment` returns the next state (as urllib3's Retry does).

    Retryable failures (connection errors, bodies cut short, `statuses`) are tried again up
    to `attempts` tries in all, with exponential backoff and jitter; a `Retry-After` (seconds
    or HTTP date) is honoured up to `max_retry_after`.
    """

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 10.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    failures: int = 0
    retry_after: float | None = None  # what the last failure asked for

    def retries_status(self, status: int) -> bool:
        return status in self.statuses

    def increment(self, error: RegistryError) -> RetryPolicy:
        """The state after `error`; raises `error` (noting the attempts) once spent or when
        it is not worth another try."""
        failures = self.failures + 1
        if not error.retryable:
            raise error
        if failures >= self.attempts:
            if failures > 1:
                error.args = (f"{error} (after {failures} attempts)",)
            raise error
        return replace(self, failures=failures, retry_after=error.retry_after)

    def delay(self, attempt: int | None = None, response: requests.Response | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (default: the last one)."""
        after = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        after = self.retry_after if after is None and attempt is None else after
        if after is not None:
            return min(after, self.max_retry_after)
        attempt = self.failures if attempt is None else attempt
        base = min(self.backoff * (2 ** (max(attempt, 1) - 1)), self.max_backoff)
        return base * (0.5 + random.random() / 2)


def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], T],
    cancelled: threading.Event | None = None,
) -> T:
    """`attempt()` until it succeeds, raises what is not worth another try, or has spent the
    policy's attempts: the one retry loop of every registry operation."""
    state = policy
    while True:
        if cancelled is not None and cancelled.is_set():
            raise Cancelled()
        try:
            return attempt()
        except RegistryError as error:
            state = state.increment(error)
        time.sleep(state.delay())


def retry_after(response: requests.Response) -> float | None:
    return _retry_after(response.headers.get("Retry-After"))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # rarely needed: most Retry-After values are seconds

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


@dataclass(frozen=True)
class Endpoint:
    """How to reach one registry host: scheme and TLS settings, passed on every request.

    `verify` and `cert` go to each request rather than to the session because requests lets
    REQUESTS_CA_BUNDLE override `Session.verify`, which would silently undo `insecure`.
    """

    host: str  # host[:port] as used in URLs
    plain_http: bool = False
    verify: bool | str = True  # False (insecure), True (system CAs) or a CA bundle path
    cert: tuple[str, str] | None = None

    @property
    def base_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"


Body = bytes | Callable[[], Any] | None
SEND_BLOCK = 1 << 20


class _Adapter(requests.adapters.HTTPAdapter):
    """Sends request bodies (blob uploads) in 1 MiB blocks instead of http.client's 8-16 KiB:
    a hundredth of the Python-level loop turns per uploaded byte."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Transport:
    """Sends requests with retries; one requests.Session per thread, sized connection pools."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool_size: int = 16
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Proxy settings are read once per host (`_proxies`), not on every request as
            # requests does, and ~/.netrc never supplies credentials: only `auths` does.
            session.trust_env = False
            adapter = _Adapter(pool_connections=8, pool_maxsize=self.pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        url: str,
        endpoint: Endpoint,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        allow_redirects: bool = True,
    ) -> requests.Response:
        """One attempt: the response, whatever its status, or TransportError (retryable) when
        the registry cannot be reached, TlsError (not) when TLS fails. Retries are the
        caller's, through `retrying`. `body` may be a callable returning a fresh body."""
        data = body() if callable(body) else body
        try:
            return self.session().request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                stream=stream,
                allow_redirects=allow_redirects,
                proxies=_proxies(url),
                verify=_verify(endpoint.verify),
                cert=endpoint.cert,
                timeout=TIMEOUT,
            )
        except requests.exceptions.SSLError as exc:
            raise TlsError(f"TLS failure talking to {endpoint.host}: {_reason(exc)}") from None
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,  # a body cut short
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise TransportError(f"cannot reach {endpoint.host}: {_reason(exc)}") from None
        finally:
            if hasattr(data, "close"):
                data.close()


@functools.cache
def _proxies_for(scheme: str, host: str) -> dict[str, str]:
    return requests.utils.get_environ_proxies(f"{scheme}://{host}/")


def _proxies(url: str) -> dict[str, str]:
    """HTTP(S)_PROXY and NO_PROXY for `url`'s host, read once per host."""
    parts = urlsplit(url)
    return _proxies_for(parts.scheme, parts.netloc)


def _verify(verify: bool | str) -> bool | str:
    """True means the default CAs: the bundle REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names if
    set (as requests would use), else requests' own."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


_TLS_HINTS = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS (if it is plain HTTP, set plain_http)",
    "CERTIFICATE_REQUIRED": "the server requires a client certificate (set cert_file and key_file)",
    "BAD_CERTIFICATE": "the server refused the client certificate, or wants one "
    "(set cert_file and key_file)",
    "UNKNOWN_CA": "the server does not trust the client certificate's CA",
}


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests/urllib3 exception, on one line."""
    text = str(exc)
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = re.sub(r"\[Errno -?\d+\] ", "", text).strip("()'\" ")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip(" ')")
        return f"certificate verify failed ({detail})" if detail else "certificate verify failed"
    if "NameResolutionError" in text or "Name or service not known" in text:
        return "host name not found"
    for marker, hint in _TLS_HINTS.items():
        if marker in text:
            return hint
    return " ".join(text.split())[:200]
