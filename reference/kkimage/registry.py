"""A client for one registry: the OCI distribution API calls kkimage needs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests
import urllib3.exceptions

from .auth import Authenticator, AuthEntry, endpoint_for, select_auth
from .errors import (
    AuthError,
    BrokenTransfer,
    Cancelled,
    DigestMismatch,
    RegistryError,
    TlsError,
    TransportError,
)
from .manifest import ACCEPT, Manifest, check_digest
from .reference import ImageReference
from .store import BlobWriter
from .transport import Endpoint, Transport

CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 4 << 20
_STREAM_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    urllib3.exceptions.HTTPError,
    OSError,
)


@dataclass
class Registry:
    """Distribution API calls against one registry host, with one set of credentials."""

    host: str  # host[:port] for URLs (registry-1.docker.io for docker.io)
    endpoint: Endpoint
    auth: Authenticator
    transport: Transport
    slots: threading.Semaphore  # connections for blob transfers, shared per host
    cancelled: threading.Event = field(default_factory=threading.Event)

    # ---- plumbing ----------------------------------------------------------------------------

    def _url(self, repository: str, kind: str, reference: str = "") -> str:
        path = f"/v2/{quote(repository)}/{kind}/"
        return self.endpoint.base_url + path + quote(reference, safe=":/")

    def _same_origin(self, url: str) -> bool:
        """Whether `url` is this registry (scheme, host and port), e.g. an upload Location."""
        target, base = urlsplit(url), urlsplit(self.endpoint.base_url)
        return (target.scheme.lower(), target.netloc.lower()) == (
            base.scheme.lower(),
            base.netloc.lower(),
        )

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], object] | bytes | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """A request with the Authorization the registry wants, answering one 401.

        Credentials go to the registry's own URLs only: an upload Location naming another
        host (or plain HTTP) gets the request without them.
        """
        trusted = self._same_origin(url)
        sent = {**(headers or {}), **(self.auth.headers(scope) if trusted else {})}
        response = self.transport.request(
            method, url, self.endpoint, headers=sent, body=body, stream=stream, retry=retry
        )
        if response.status_code == 401 and trusted:
            response.close()
            sent.update(self.auth.answer(response, scope))
            response = self.transport.request(
                method, url, self.endpoint, headers=sent, body=body, stream=stream, retry=retry
            )
        return response

    def _error(self, response: requests.Response, what: str) -> RegistryError:
        """One line: what failed, the status, the registry's error code and message, a hint."""
        code, message = None, ""
        try:
            errors = response.json().get("errors") or []
            if errors:
                code = errors[0].get("code")
                message = errors[0].get("message") or ""
        except (ValueError, AttributeError, TypeError):
            if not response.headers.get("Content-Type", "").startswith("text/html"):
                message = " ".join(response.text.split())[:120]
        finally:
            response.close()
        status = response.status_code
        text = f"{what}: {self.host} answered {status} {code or response.reason or ''}".rstrip()
        if message and message.lower() != (code or "").lower().replace("_", " "):
            text += f": {message}"
        challenge = response.headers.get("WWW-Authenticate", "")
        if status == 401 and not self.auth.has_credentials:
            text += f" (no credentials: add an auths entry for {self.host})"
        elif status == 401 and 'error="insufficient_scope"' in challenge:
            text += " (these credentials are not allowed to do this)"
        elif status == 401:
            text += f" (check the username and password for {self.host})"
        elif status == 400 and "HTTPS server" in message:
            text += " (remove plain_http for this registry)"
        elif status == 404 and what.startswith("manifest"):
            text += " (no such repository, tag or digest)"
        error_type = AuthError if status in (401, 403) else RegistryError
        return error_type(text, status, code)

    @staticmethod
    def scope(repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    # ---- manifests ---------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """Fetch a manifest and check it against the digest asked for or announced."""
        what = f"{repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        response, raw = self._read_small(
            self._url(repository, "manifests", reference),
            self.scope(repository),
            {"Accept": ACCEPT},
            f"manifest {what}",
        )
        expected = reference if reference.startswith("sha256:") else None
        announced = response.headers.get("Docker-Content-Digest", "")
        if expected is None and announced.startswith("sha256:"):
            expected = announced
        if expected:
            check_digest(f"manifest {what}", raw, expected)
        return Manifest.parse(raw, response.headers.get("Content-Type"), what=f"manifest {what}")

    def _read_small(
        self, url: str, scope: str, headers: dict[str, str], what: str
    ) -> tuple[requests.Response, bytes]:
        """GET a small document (a manifest, a config), read whole and at most
        MAX_MANIFEST_BYTES long; a body cut short is retried."""
        failures = 0
        while True:
            response = self._send("GET", url, scope, headers=headers, stream=True)
            if response.status_code != 200:
                raise self._error(response, what)
            try:
                with response:
                    raw = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
            except _STREAM_ERRORS as exc:
                failures += 1
                self._give_up_or_wait(failures, f"{what}: failed", exc)
                continue
            if len(raw) > MAX_MANIFEST_BYTES:
                raise RegistryError(f"{what} is larger than {MAX_MANIFEST_BYTES} bytes")
            return response, raw

    def _give_up_or_wait(self, failures: int, failed: str, exc: BaseException) -> None:
        """After the `failures`-th failure: raise "`failed` N times" with the last error once
        the retry policy's attempts are spent, otherwise wait before the next attempt."""
        if failures >= self.transport.retry.attempts:
            raise TransportError(f"{failed} {failures} times, last: {_short(exc)}") from None
        time.sleep(self.transport.retry.delay(failures))

    def manifest_digest(self, repository: str, reference: str, actions: str = "pull") -> str | None:
        """The digest the registry has under `reference`, or None if it has nothing there."""
        response = self._send(
            "HEAD",
            self._url(repository, "manifests", reference),
            self.scope(repository, actions),
            headers={"Accept": ACCEPT},
        )
        with response:
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise self._error(response, f"manifest {repository}:{reference}")
            return response.headers.get("Docker-Content-Digest") or None

    def has_tags(self, repository: str, actions: str = "pull") -> bool:
        """False only when the registry says the repository has no tags (404)."""
        response = self._send(
            "GET", self._url(repository, "tags", "list"), self.scope(repository, actions)
        )
        with response:
            return response.status_code != 404

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        what = f"pushing manifest {self.host}/{repository}:{reference}"
        response = self._send(
            "PUT",
            self._url(repository, "manifests", reference),
            self.scope(repository, "pull,push"),
            headers={"Content-Type": manifest.media_type},
            body=manifest.raw,
        )
        with response:
            if response.status_code not in (200, 201, 202):
                raise self._error(response, what)
            stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != manifest.digest:
            raise DigestMismatch(what, manifest.digest, stored)

    # ---- blobs -------------------------------------------------------------------------------

    def read_blob(self, repository: str, digest: str) -> bytes:
        """A small blob (an image config), into memory and verified."""
        what = f"blob {repository}@{digest}"
        _, raw = self._read_small(
            self._url(repository, "blobs", digest),
            self.scope(repository),
            {"Accept-Encoding": "identity"},
            what,
        )
        check_digest(what, raw, digest)
        return raw

    def has_blob(self, repository: str, digest: str, actions: str = "pull") -> bool:
        response = self._send(
            "HEAD", self._url(repository, "blobs", digest), self.scope(repository, actions)
        )
        with response:
            if response.status_code == 404:
                return False
            if response.status_code == 200:
                return True
            raise self._error(response, f"blob {repository}@{digest}")

    def fetch_blob(
        self, repository: str, digest: str, writer: BlobWriter, progress: Callable[[int], None]
    ) -> None:
        """Stream a blob into `writer`, resuming with Range after a dropped connection."""
        what = f"blob {repository}@{digest}"
        failures = 0
        with self.slots:
            while True:
                self._check_cancelled()
                headers = {"Accept-Encoding": "identity"}
                if writer.written:
                    headers["Range"] = f"bytes={writer.written}-"
                try:
                    response = self._send(
                        "GET",
                        self._url(repository, "blobs", digest),
                        self.scope(repository),
                        headers=headers,
                        stream=True,
                    )
                    with response:
                        if response.status_code == 200 and writer.written:
                            progress(-writer.written)
                            writer.restart()  # no Range support: start over
                        elif response.status_code == 206:
                            if not _range_starts_at(response, writer.written):
                                progress(-writer.written)
                                writer.restart()
                                raise BrokenTransfer(f"{what}: unexpected Content-Range")
                        elif response.status_code != 200:
                            raise self._error(response, what)
                        for chunk in response.raw.stream(CHUNK, decode_content=False):
                            self._check_cancelled()
                            writer.write(chunk)
                            progress(len(chunk))
                    if writer.size is None or writer.written >= writer.size:
                        return
                    raise BrokenTransfer(f"{what}: connection closed before the end")
                except (BrokenTransfer, *_STREAM_ERRORS) as exc:  # the request was retried already
                    failures += 1
                    self._give_up_or_wait(failures, f"{what}: transfer failed", exc)

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> str | None:
        """Ask for a cross-repository mount: None when mounted, otherwise the upload URL the
        registry opened instead (a 202), for the caller to upload to."""
        query = urlencode({"mount": digest, "from": source_repository})
        response = self._send(
            "POST",
            self._url(repository, "blobs", "uploads/") + "?" + query,
            f"{self.scope(repository, 'pull,push')} {self.scope(source_repository)}",
        )
        with response:
            if response.status_code == 201:
                return None
            if response.status_code == 202 and response.headers.get("Location"):
                return urljoin(self.endpoint.base_url, response.headers["Location"])
            raise self._error(response, f"mounting blob {digest} into {self.host}/{repository}")

    def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_blob: Callable[[], BinaryIO],
        upload_url: str | None = None,
    ) -> None:
        """Monolithic upload (POST, then PUT of the whole blob streamed from the store)."""
        what = f"pushing blob {digest} to {self.host}/{repository}"
        scope = self.scope(repository, "pull,push")
        failures = 0
        with self.slots:
            while True:
                self._check_cancelled()
                try:
                    if upload_url is None:
                        response = self._send(
                            "POST", self._url(repository, "blobs", "uploads/"), scope
                        )
                        with response:
                            if response.status_code != 202 or "Location" not in response.headers:
                                raise self._error(response, what)
                            upload_url = urljoin(
                                self.endpoint.base_url, response.headers["Location"]
                            )
                    separator = "&" if "?" in upload_url else "?"
                    response = self._send(
                        "PUT",
                        f"{upload_url}{separator}{urlencode({'digest': digest})}",
                        scope,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(size),
                        },
                        body=open_blob,
                        retry=False,
                    )
                    with response:
                        if response.status_code in (201, 204):
                            return
                        if response.status_code in (400, 401, 403, 404) or (
                            not self.transport.retry.retries_status(response.status_code)
                        ):
                            raise self._error(response, what)
                        raise BrokenTransfer(f"{what}: {response.status_code}")
                except TlsError:
                    raise
                except (TransportError, *_STREAM_ERRORS) as exc:
                    failures += 1  # the upload starts over, with a new upload session
                    upload_url = None
                    self._give_up_or_wait(failures, f"{what}: failed", exc)

    def _check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()


def _range_starts_at(response: requests.Response, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    return content_range.startswith(f"bytes {offset}-")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


@dataclass
class Registries:
    """Registry clients by host and credentials, built from a task's `auths`."""

    auths: list[AuthEntry]
    skip_tls_verify: bool
    transport: Transport
    connections_per_registry: int
    cancelled: threading.Event = field(default_factory=threading.Event)
    _clients: dict[tuple[str, int], Registry] = field(default_factory=dict)
    _slots: dict[str, threading.Semaphore] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_reference(self, ref: ImageReference) -> Registry:
        entry = select_auth(self.auths, ref.registry, ref.repository)
        key = (ref.api_host, id(entry))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                endpoint = endpoint_for(ref.api_host, entry, self.skip_tls_verify)
                slots = self._slots.setdefault(
                    ref.api_host, threading.BoundedSemaphore(self.connections_per_registry)
                )
                auth = Authenticator(
                    self.transport,
                    endpoint,
                    entry.username if entry else None,
                    entry.password if entry else None,
                )
                client = Registry(
                    ref.api_host, endpoint, auth, self.transport, slots, self.cancelled
                )
                self._clients[key] = client
        return client
