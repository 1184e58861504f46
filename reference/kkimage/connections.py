"""HTTP/1.1 to registries (over `http11`): kept-alive connections, idle ones pooled per
thread and origin; TLS contexts built once per settings; proxies from the environment (a
CONNECT tunnel for HTTPS); redirects followed, without the Authorization once they leave
the origin.

Why not requests: importing it (and urllib3) is a fifth of a small pull's run time, and each
body read crosses three layers of Python; see docs/performance.md.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from .http11 import Connection, Headers, IncompleteRead, ProtocolError, Reply, open_tunnel

if TYPE_CHECKING:
    import ssl

TIMEOUT = (15, 120)  # seconds: to connect, and between two reads
SEND_BLOCK = 1 << 20  # request bodies (blob uploads) go out in 1 MiB blocks
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
_DRAIN = 64 << 10  # a body read to keep its connection; a longer one closes it instead
STREAM_ERRORS = (OSError, ProtocolError)  # a connection lost or a reply malformed

Body = bytes | Callable[[], Any] | None


class Origin(NamedTuple):
    """Where a connection goes: scheme, host[:port], and how TLS is checked."""

    scheme: str
    netloc: str
    verify: bool | str = True  # False (insecure), True (default CAs) or a CA bundle path
    cert: tuple[str, str] | None = None


class Response:
    """One answer: status, headers (case-insensitive), the body read as asked. `close()`
    gives the connection back when the body was read to its end, else closes it."""

    def __init__(self, raw: Reply, release: Callable[[bool], None]) -> None:
        self._raw = raw
        self._release: Callable[[bool], None] | None = release
        self.status_code = raw.status
        self.reason = raw.reason
        self.headers: Headers = raw.headers

    def read(self, amount: int | None = None) -> bytes:
        """Up to `amount` bytes (all: None); IncompleteRead if the connection ends before
        the Content-Length (the reply gives the short read as if it were the end)."""
        data = self._raw.read(amount)
        left = self._raw.length
        if amount is not None and len(data) < amount and left:
            raise IncompleteRead(left)
        return data

    def read_some(self, amount: int) -> bytes:
        """Up to `amount` bytes of the body; short, then empty, where the connection ends
        before it does."""
        return self._raw.read(amount)

    def readinto(self, buffer: memoryview) -> int:
        """`read_some`, into `buffer`."""
        return self._raw.readinto(buffer)

    @functools.cached_property
    def content(self) -> bytes:
        """A short body (an error, a token), read once: at most 64 KiB of it."""
        return self.read(_DRAIN)

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def _drain(self) -> None:
        """Read what is left of a short body (often none: a HEAD, a 202), so that the
        connection can be used again."""
        left = self._raw.length
        if not self._raw.isclosed() and left is not None and left <= _DRAIN:
            with contextlib.suppress(STREAM_ERRORS):
                self._raw.read()

    def close(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            self._drain()
            release(self._raw.isclosed() and not self._raw.will_close)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connections:
    """Idle connections by thread and origin; a thread may hold several to one origin at
    once (a blob streamed from a registry into the same registry)."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._local = threading.local()

    def request(
        self,
        method: str,
        url: str,
        origin: Origin,
        headers: Mapping[str, str],
        body: Body = None,
        allow_redirects: bool = True,
    ) -> Response:
        """The answer to `method url`, following redirects; OSError or HTTPException when
        the origin cannot be reached (the caller turns those into its errors)."""
        sent = {"User-Agent": self.user_agent, **headers}
        for _ in range(MAX_REDIRECTS):
            response = self._exchange(method, url, origin, sent, body)
            location = response.headers.get("Location")
            if not (allow_redirects and location and response.status_code in _REDIRECTS):
                return response
            response.close()
            target = urljoin(url, location)
            parts = urlsplit(target)
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                origin = Origin(parts.scheme, parts.netloc, origin.verify, origin.cert)
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = "GET", None
                sent = {k: v for k, v in sent.items() if k.lower() != "content-length"}
            url = target
        raise ProtocolError(f"more than {MAX_REDIRECTS} redirects")

    def _exchange(
        self, method: str, url: str, origin: Origin, headers: dict[str, str], body: Body
    ) -> Response:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = _host_header(origin)
        proxy = _proxy_for(origin.scheme, origin.netloc)
        if proxy is not None and origin.scheme == "http":
            target = url  # a forward proxy's request line names the whole URL
            if proxy[1]:
                headers = {**headers, "Proxy-Authorization": proxy[1]}
        idle = self._idle(origin)
        while True:
            reused = bool(idle)
            connection = idle.pop() if idle else _connect(origin, proxy)
            data = body() if callable(body) else body
            try:
                connection.send(method, target, host, headers, data, SEND_BLOCK)
                raw = connection.reply(method)
                break
            except (ConnectionResetError, BrokenPipeError):
                connection.close()
                if not reused:  # a kept-alive connection the server had closed: once more
                    raise
            except BaseException:
                connection.close()
                raise
            finally:
                if hasattr(data, "close"):
                    data.close()

        def release(reusable: bool) -> None:
            if reusable:
                idle.append(connection)
            else:
                connection.close()

        return Response(raw, release)

    def _idle(self, origin: Origin) -> list[Connection]:
        pools = getattr(self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = {}
        return pools.setdefault(origin, [])


def _connect(origin: Origin, proxy: tuple[str, str | None] | None) -> Connection:
    host, port = _host_port(origin.netloc, 443 if origin.scheme == "https" else 80)
    connect_timeout, read_timeout = TIMEOUT
    via = urlsplit(proxy[0]) if proxy else None
    address = (via.hostname or "", via.port or 80) if via else (host, port)
    sock = _open_socket(address, connect_timeout)
    try:
        if origin.scheme == "https":
            if proxy is not None:
                authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                open_tunnel(sock, authority, proxy[1])
            context = tls_context(origin.verify, origin.cert)
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.settimeout(read_timeout)
    except BaseException:
        sock.close()
        raise
    return Connection(sock)


def _host_header(origin: Origin) -> str:
    """The origin's host[:port], without the scheme's default port."""
    default = ":443" if origin.scheme == "https" else ":80"
    return origin.netloc.removesuffix(default)


def _open_socket(address: tuple[str, int], timeout: float) -> socket.socket:
    """socket.create_connection, given an ASCII host as bytes: it passes a str host through
    the idna codec, whose first use imports it (2 ms of a small pull's start-up)."""
    host, port = address
    return socket.create_connection((host.encode() if host.isascii() else host, port), timeout)


def _host_port(netloc: str, default: int) -> tuple[str, int]:
    host, _, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not host or not port.isdigit():
        host, port = netloc, str(default)
    return host.strip("[]"), int(port)


@functools.cache
def tls_context(verify: bool | str, cert: tuple[str, str] | None) -> ssl.SSLContext:
    """True: the system's CAs, or the bundle REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names (as
    other tools on the machine would use); a path: that bundle only; False: no checks."""
    import ssl  # 5 ms of start-up: only for the runs that speak TLS

    if verify is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        context = ssl.create_default_context(cafile=bundle or None)
    elif verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=verify)
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


@functools.cache
def _proxy_for(scheme: str, netloc: str) -> tuple[str, str | None] | None:
    """HTTP(S)_PROXY for `netloc` unless NO_PROXY says otherwise (read once per host): the
    proxy's URL and its Proxy-Authorization, if its URL holds credentials."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request  # 6 ms of start-up: only for the runs that have a proxy to read

    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme)
    if not url or urllib.request.proxy_bypass_environment(netloc, proxies):
        return None
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    credentials = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        credentials = "Basic " + base64.b64encode(pair.encode()).decode()
    return url, credentials
