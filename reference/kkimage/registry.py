"""A client for one registry: the OCI distribution API calls kkimage needs.

Every operation is one `retrying` loop over whole attempts (the request, and reading its
body): one retry budget per operation, whatever failed. A blob is read as a `VerifiedReader`
that resumes with Range after a dropped connection, within that budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .auth import Authenticator, AuthEntry, endpoint_for, select_auth
from .blobs import CHUNK, BlobOpener, VerifiedReader
from .connections import STREAM_ERRORS, Response
from .credentials import Credentials, DockerCredentials
from .errors import AuthError, BrokenTransfer, Cancelled, DigestMismatch, RegistryError
from .manifest import ACCEPT, Manifest, check_digest
from .reference import ImageReference
from .transport import Endpoint, Transport, retry_after, retrying

MAX_MANIFEST_BYTES = 4 << 20
T = TypeVar("T")


def _broken(what: str, exc: BaseException) -> BrokenTransfer:
    return BrokenTransfer(f"{what}: {_short(exc)}")


class Registry:
    """Distribution API calls against one registry host, with one set of credentials."""

    def __init__(
        self,
        host: str,  # host[:port] for URLs (registry-1.docker.io for docker.io)
        endpoint: Endpoint,
        auth: Authenticator,
        transport: Transport,
        slots: threading.Semaphore,  # connections for blob transfers, shared per host
        cancelled: threading.Event | None = None,
    ) -> None:
        self.host, self.endpoint, self.auth, self.transport = host, endpoint, auth, transport
        self.slots = slots
        self.cancelled = cancelled or threading.Event()

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

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        return retrying(self.transport.retry, attempt, self.cancelled)

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], object] | bytes | None = None,
    ) -> Response:
        """One request with the Authorization the registry wants, answering one 401.

        Credentials go to the registry's own URLs only: an upload Location naming another
        host (or plain HTTP) gets the request without them.
        """
        trusted = self._same_origin(url)
        sent = {**(headers or {}), **(self.auth.headers(scope) if trusted else {})}
        response = self.transport.request(method, url, self.endpoint, headers=sent, body=body)
        if response.status_code == 401 and trusted:
            response.close()
            sent.update(self.auth.answer(response, scope))
            response = self.transport.request(method, url, self.endpoint, headers=sent, body=body)
        return response

    def _expect(self, response: Response, what: str, *ok: int) -> Response:
        """`response` if its status is one of `ok`, else its error (retryable if it is)."""
        if response.status_code in ok:
            return response
        raise self._error(response, what)

    def _error(self, response: Response, what: str) -> RegistryError:
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
        except STREAM_ERRORS:
            pass
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
        elif status == 401 and self.auth.credentials.source:
            text += f" (check the credentials for {self.host} in {self.auth.credentials.source})"
        elif status == 401:
            text += f" (check the username and password for {self.host})"
        elif status == 400 and "HTTPS server" in message:
            text += " (remove plain_http for this registry)"
        elif status == 404 and what.startswith("manifest"):
            text += " (no such repository, tag or digest)"
        error_type = AuthError if status in (401, 403) else RegistryError
        return error_type(
            text,
            status,
            code,
            retryable=self.transport.retry.retries_status(status),
            retry_after=retry_after(response),
        )

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
    ) -> tuple[Response, bytes]:
        """GET a small document (a manifest, a config), read whole and at most
        MAX_MANIFEST_BYTES long."""

        def attempt() -> tuple[Response, bytes]:
            response = self._expect(self._send("GET", url, scope, headers=headers), what, 200)
            try:
                with response:
                    raw = response.read(MAX_MANIFEST_BYTES + 1)
            except STREAM_ERRORS as exc:
                raise _broken(f"{what}: reading the answer", exc) from None
            if len(raw) > MAX_MANIFEST_BYTES:
                raise RegistryError(f"{what} is larger than {MAX_MANIFEST_BYTES} bytes")
            return response, raw

        return self._retrying(attempt)

    def manifest_digest(self, repository: str, reference: str, actions: str = "pull") -> str | None:
        """The digest the registry has under `reference`, or None if it has nothing there."""
        what = f"manifest {repository}:{reference}"

        def attempt() -> str | None:
            response = self._send(
                "HEAD",
                self._url(repository, "manifests", reference),
                self.scope(repository, actions),
                headers={"Accept": ACCEPT},
            )
            with response:
                if response.status_code == 404:
                    return None
                self._expect(response, what, 200)
                return response.headers.get("Docker-Content-Digest") or None

        return self._retrying(attempt)

    def has_tags(self, repository: str, actions: str = "pull") -> bool:
        """False only when the registry says the repository has no tags (404)."""

        def attempt() -> bool:
            url = self._url(repository, "tags", "list")
            with self._send("GET", url, self.scope(repository, actions)) as response:
                return response.status_code != 404

        return self._retrying(attempt)

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        what = f"pushing manifest {self.host}/{repository}:{reference}"

        def attempt() -> str | None:
            response = self._send(
                "PUT",
                self._url(repository, "manifests", reference),
                self.scope(repository, "pull,push"),
                headers={"Content-Type": manifest.media_type},
                body=manifest.raw,
            )
            with self._expect(response, what, 200, 201, 202):
                return response.headers.get("Docker-Content-Digest")

        stored = self._retrying(attempt)
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
        what = f"blob {repository}@{digest}"

        def attempt() -> bool:
            url = self._url(repository, "blobs", digest)
            with self._send("HEAD", url, self.scope(repository, actions)) as response:
                if response.status_code == 404:
                    return False
                self._expect(response, what, 200)
                return True

        return self._retrying(attempt)

    def open_blob(
        self, repository: str, descriptor: dict, progress: Callable[[int], None] | None = None
    ) -> VerifiedReader:
        """The blob as a verified stream; it holds one of the host's connection slots until
        closed, and resumes with Range after a dropped connection."""
        what = f"blob {repository}@{descriptor['digest']}"
        raw = _ResumingBody(self, repository, descriptor, what)
        return VerifiedReader(raw, descriptor["digest"], descriptor["size"], what, progress)

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> str | None:
        """Ask for a cross-repository mount: None when mounted, otherwise the upload URL the
        registry opened instead (a 202), for the caller to upload to."""
        query = urlencode({"mount": digest, "from": source_repository})
        what = f"mounting blob {digest} into {self.host}/{repository}"

        def attempt() -> str | None:
            response = self._send(
                "POST",
                self._url(repository, "blobs", "uploads/") + "?" + query,
                f"{self.scope(repository, 'pull,push')} {self.scope(source_repository)}",
            )
            with self._expect(response, what, 201, 202):
                if response.status_code == 201:
                    return None
                if not response.headers.get("Location"):
                    raise RegistryError(f"{what}: {self.host} answered 202 without a Location")
                return urljoin(self.endpoint.base_url, response.headers["Location"])

        return self._retrying(attempt)

    def push_blob(
        self,
        repository: str,
        descriptor: dict,
        open_source: BlobOpener,
        upload_url: str | None = None,
    ) -> None:
        """Monolithic upload: POST (unless `upload_url` is open already), then PUT of the
        whole blob streamed from `open_source`; a failed attempt starts a new upload."""
        digest, size = descriptor["digest"], descriptor["size"]
        what = f"pushing blob {digest} to {self.host}/{repository}"
        scope = self.scope(repository, "pull,push")
        opened = [upload_url]

        def attempt() -> None:
            url, opened[0] = opened[0], None  # an upload session serves one attempt only
            if url is None:
                response = self._send("POST", self._url(repository, "blobs", "uploads/"), scope)
                with self._expect(response, what, 202):
                    if "Location" not in response.headers:
                        raise RegistryError(f"{what}: {self.host} answered 202 without a Location")
                    url = urljoin(self.endpoint.base_url, response.headers["Location"])
            separator = "&" if "?" in url else "?"
            response = self._send(
                "PUT",
                f"{url}{separator}{urlencode({'digest': digest})}",
                scope,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                body=open_source,
            )
            with self._expect(response, what, 201, 204):
                pass

        with self.slots:
            self._retrying(attempt)


class _ResumingBody:
    """The raw bytes of one blob GET, with Range resumes after dropped connections, capped at
    the blob's size; its retry budget is the blob's, one for the whole transfer."""

    def __init__(self, registry: Registry, repository: str, descriptor: dict, what: str) -> None:
        self.registry, self.repository, self.what = registry, repository, what
        self.digest, self.size = descriptor["digest"], descriptor["size"]
        self.offset = 0
        self.state = registry.transport.retry
        self._response: Response | None = None
        self._ended = False
        registry.slots.acquire()
        self._slot = True

    def _open(self) -> Response:
        """The body from `offset` on (kept as `_response`), on a new request."""
        headers = {"Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        registry = self.registry
        response = registry._send(
            "GET",
            registry._url(self.repository, "blobs", self.digest),
            registry.scope(self.repository),
            headers=headers,
        )
        registry._expect(response, self.what, 200, 206)
        skip = 0
        if response.status_code == 206:
            if not response.headers.get("Content-Range", "").startswith(f"bytes {self.offset}-"):
                response.close()
                raise BrokenTransfer(f"{self.what}: unexpected Content-Range")
        else:
            skip = self.offset  # no Range support: the start again, dropped
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.size - self.offset + skip:
            response.close()
            raise DigestMismatch(
                self.what,
                f"{self.size} bytes",
                length,
                f"{registry.host} announced {length} bytes for a blob of {self.size}",
            )
        self._response = response
        while skip:
            dropped = len(response.read_some(min(skip, CHUNK)))
            if not dropped:
                raise BrokenTransfer(f"{self.what}: connection closed before the end")
            skip -= dropped
        return response

    def read(self, size: int = CHUNK, /) -> bytes:
        return self._next(lambda response: response.read_some(size), len, b"")

    def readinto(self, buffer: memoryview, /) -> int:
        return self._next(lambda response: response.readinto(buffer), int, 0)

    def _next(self, take: Callable[[Response], T], count: Callable[[T], int], end: T) -> T:
        """What `take` reads from the body next (`end` once it is all read), the connection
        opened or resumed as need be."""
        if self._ended:
            return end
        while True:
            if self.registry.cancelled.is_set():
                raise Cancelled()
            try:
                got = take(self._response or self._open())
            except RegistryError as error:
                self._drop()
                self.state = self.state.increment(error)
            except STREAM_ERRORS as exc:
                self._drop()
                self.state = self.state.increment(_broken(f"{self.what}: transfer failed", exc))
            else:
                passed = count(got)
                if passed or self.offset >= self.size:
                    self.offset += passed
                    if not passed:  # the whole body: its connection and slot serve others now
                        self._ended = True
                        self.close()
                    return got
                self._drop()  # ended early: resume from here
                self.state = self.state.increment(
                    BrokenTransfer(f"{self.what}: connection closed before the end")
                )
            time.sleep(self.state.delay())

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None

    def close(self) -> None:
        self._drop()
        if self._slot:
            self._slot = False
            self.registry.slots.release()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class Registries:
    """Registry clients by host and credentials, built from a task's `auths`."""

    def __init__(
        self,
        auths: list[AuthEntry],
        skip_tls_verify: bool,
        transport: Transport,
        connections_per_registry: int,
        cancelled: threading.Event,
        warn: Callable[[str], None],
        credentials: DockerCredentials | None,  # for entries without username and password
    ) -> None:
        self.auths, self.skip_tls_verify, self.transport = auths, skip_tls_verify, transport
        self.connections_per_registry = connections_per_registry
        self.cancelled, self.warn, self.credentials = cancelled, warn, credentials
        self._clients: dict[tuple[str, int, Credentials], Registry] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()

    def _credentials(self, entry: AuthEntry | None, ref: ImageReference) -> Credentials:
        """The entry's username and password; else what docker or podman login stored."""
        if entry is not None and (entry.username or entry.password):
            return Credentials(entry.username, entry.password)
        if self.credentials is not None:
            return self.credentials.lookup(ref.registry, ref.repository) or Credentials()
        return Credentials()

    def for_reference(self, ref: ImageReference) -> Registry:
        entry = select_auth(self.auths, ref.registry, ref.repository)
        credentials = self._credentials(entry, ref)
        key = (ref.api_host, id(entry), credentials)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                endpoint = endpoint_for(ref.api_host, entry, self.skip_tls_verify)
                if endpoint.verify is False and not endpoint.plain_http:
                    self.warn(f"{ref.api_host}: TLS certificates are not verified (insecure)")
                slots = self._slots.setdefault(
                    ref.api_host, threading.BoundedSemaphore(self.connections_per_registry)
                )
                auth = Authenticator(self.transport, endpoint, credentials)
                client = Registry(
                    ref.api_host, endpoint, auth, self.transport, slots, self.cancelled
                )
                self._clients[key] = client
        return client
