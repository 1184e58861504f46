"""HTTP for registries: one attempt per request (over `connections`), its failures in
kkimage's words, and the one retry policy every registry operation follows (`retrying`)."""

from __future__ import annotations

import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

from .connections import STREAM_ERRORS, Body, Connections, Origin, Response
from .errors import Cancelled, RegistryError, TlsError, TransportError

USER_AGENT = "kkimage/0.1"
T = TypeVar("T")


class RetryPolicy(NamedTuple):
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
        return self._replace(failures=failures, retry_after=error.retry_after)

    def delay(self, attempt: int | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (default: the last one, and
        what its Retry-After asked for)."""
        if attempt is None and self.retry_after is not None:
            return min(self.retry_after, self.max_retry_after)
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


def retry_after(response: Response) -> float | None:
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


class Endpoint(NamedTuple):
    """How to reach one registry host: scheme and TLS settings, passed on every request.

    `verify` and `cert` go with each request: connections are pooled by them too.
    """

    host: str  # host[:port] as used in URLs
    plain_http: bool = False
    verify: bool | str = True  # False (insecure), True (system CAs) or a CA bundle path
    cert: tuple[str, str] | None = None

    @property
    def base_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"


class Transport:
    """Sends requests, one attempt each; retries are the caller's, through `retrying`."""

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self.connections = Connections(USER_AGENT)

    def request(
        self,
        method: str,
        url: str,
        endpoint: Endpoint,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        allow_redirects: bool = True,
    ) -> Response:
        """One attempt: the response, whatever its status, or TransportError (retryable) when
        the registry cannot be reached, TlsError (not) when TLS fails. `body` may be a
        callable returning a fresh body (a stream to upload)."""
        parts = urlsplit(url)
        origin = Origin(parts.scheme, parts.netloc, endpoint.verify, endpoint.cert)
        try:
            return self.connections.request(
                method, url, origin, headers or {}, body, allow_redirects
            )
        except STREAM_ERRORS as exc:
            if _tls_error(exc, "SSLError"):
                raise TlsError(f"TLS failure talking to {endpoint.host}: {_reason(exc)}") from None
            raise TransportError(f"cannot reach {endpoint.host}: {_reason(exc)}") from None


_TLS_HINTS = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS (if it is plain HTTP, set plain_http)",
    "CERTIFICATE_REQUIRED": "the server requires a client certificate (set cert_file and key_file)",
    "BAD_CERTIFICATE": "the server refused the client certificate, or wants one "
    "(set cert_file and key_file)",
    "UNKNOWN_CA": "the server does not trust the client certificate's CA",
}


def _tls_error(exc: BaseException, kind: str) -> bool:
    """Whether `exc` is ssl's `kind` of error (no run that never spoke TLS imports ssl)."""
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, getattr(ssl, kind))


def _reason(exc: BaseException) -> str:
    """What went wrong, on one line, with a hint where the cause is a setting."""
    if _tls_error(exc, "SSLCertVerificationError"):
        return f"certificate verify failed ({exc.verify_message})"  # type: ignore[attr-defined]
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    for marker, hint in _TLS_HINTS.items():
        if marker in text:
            return hint
    text = re.sub(r"\[Errno -?\d+\] ", "", text).strip("()'\" ")
    return " ".join(text.split())[:200] or type(exc).__name__
