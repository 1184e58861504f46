"""Registry credentials: which `auths` entry applies, and answering Basic/Bearer challenges."""

from __future__ import annotations

import base64
import re
import threading
import time
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

from .connections import Response
from .credentials import Credentials, repr_without_secrets
from .errors import AuthError
from .reference import normalize_registry
from .transport import Endpoint, Transport

CLIENT_ID = "kkimage"  # OAuth2 client_id of identity-token requests


class AuthEntry(NamedTuple):
    """One `auths` entry. `repo` is host[:port][/path prefix]; G2 spells it `registry`."""

    host: str  # lowercased, Docker Hub normalized, without port
    port: str | None
    path: str  # repository prefix, may be empty
    username: str | None = None
    password: str | None = None
    insecure: bool | None = None
    plain_http: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    __repr__ = repr_without_secrets


def split_host(registry: str) -> tuple[str, str | None]:
    if registry.startswith("["):  # [ipv6]:port
        host, _, rest = registry.partition("]")
        return host + "]", rest[1:] if rest.startswith(":") else None
    host, _, port = registry.partition(":")
    return host, port or None


def match_score(entry: AuthEntry, registry: str, repository: str) -> int:
    """How well `entry` fits `registry/repository`, as KubeKey v4.0.3 scores it; 0: not at all.

    Host: must be equal (Docker Hub's aliases are one host). Port: equal or both absent 2,
    given on one side only 1; two different ports do not fit (KubeKey scores them 1 and so
    sends one port's password to another). Path: equal +2, a prefix at a `/` boundary +1,
    anything else does not fit.
    """
    host, port = split_host(registry)
    if entry.host != normalize_registry(host):
        return 0
    if entry.port == port:
        score = 2
    elif entry.port is None or port is None:
        score = 1
    else:
        return 0
    if not entry.path:
        return score
    if repository == entry.path:
        return score + 2
    if repository.startswith(entry.path + "/"):
        return score + 1
    return 0


def select_auth(entries: list[AuthEntry], registry: str, repository: str) -> AuthEntry | None:
    """The best-fitting entry: highest score, then the longer path prefix, then the first.

    Unlike KubeKey v4.0.3, an entry that does not fit is never used, so its credentials
    cannot reach an unrelated registry.
    """
    best, best_key = None, (0, 0)
    for entry in entries:
        score = match_score(entry, registry, repository)
        key = (score, entry.path.count("/") + 1 if entry.path else 0)
        if score and key > best_key:
            best, best_key = entry, key
    return best


def endpoint_for(registry_host: str, entry: AuthEntry | None, skip_tls_verify: bool) -> Endpoint:
    insecure = skip_tls_verify if entry is None or entry.insecure is None else entry.insecure
    verify: bool | str = not insecure
    if verify and entry is not None and entry.ca_file:
        verify = entry.ca_file
    cert = None
    if entry is not None and entry.cert_file:
        cert = (entry.cert_file, entry.key_file or entry.cert_file)
    return Endpoint(
        host=registry_host,
        plain_http=bool(entry and entry.plain_http),
        verify=verify,
        cert=cert,
    )


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"|(\w+)=([^\s,]+)')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _CHALLENGE.finditer(rest):
        key = match.group(1) or match.group(3)
        params[key.lower()] = match.group(2) if match.group(1) else match.group(4)
    return scheme.lower(), params


class Authenticator:
    """Answers one registry's challenges; tokens are cached per scope until they expire."""

    def __init__(
        self, transport: Transport, endpoint: Endpoint, credentials: Credentials | None = None
    ) -> None:
        self.transport, self.endpoint = transport, endpoint
        self.credentials = credentials or Credentials()
        self._scheme: str | None = None
        self._bearer: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def has_credentials(self) -> bool:
        return self.credentials.identity_token is not None or self._has_password

    @property
    def _has_password(self) -> bool:
        return bool(self.credentials.username or self.credentials.password)

    def headers(self, scope: str) -> dict[str, str]:
        """Authorization to send before any challenge, from what earlier answers taught."""
        if self._scheme == "basic" and self._has_password:
            return {"Authorization": self._basic()}
        if self._scheme == "bearer":
            with self._lock:
                cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return {"Authorization": f"Bearer {cached[0]}"}
        return {}

    def answer(self, response: Response, scope: str) -> dict[str, str]:
        """Authorization for a retry after `response` (a 401); AuthError if we cannot."""
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if not self._has_password:
                raise AuthError(f"{self.endpoint.host} requires credentials", 401, "UNAUTHORIZED")
            self._scheme = "basic"
            return {"Authorization": self._basic()}
        if scheme == "bearer" and params.get("realm"):
            self._scheme = "bearer"
            token = self._fetch_token(params, scope)
            return {"Authorization": f"Bearer {token}"}
        raise AuthError(
            f"{self.endpoint.host} answered 401 with an unsupported challenge {header[:80]!r}", 401
        )

    def _basic(self) -> str:
        pair = f"{self.credentials.username or ''}:{self.credentials.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _token_request(
        self, realm: str, query: list[tuple[str, str]]
    ) -> tuple[str, str, bytes | None, dict[str, str]]:
        """Method, URL, body and headers: a GET with Basic credentials, or with an identity
        token the OAuth2 form POST that Docker sends."""
        token = self.credentials.identity_token
        if token:
            form = [("grant_type", "refresh_token"), ("refresh_token", token)]
            form += [("client_id", CLIENT_ID), *query]
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            return "POST", realm, urlencode(form).encode(), headers
        url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        return "GET", url, None, {"Authorization": self._basic()} if self.has_credentials else {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        for part in scope.split(" "):
            if part:
                query.append(("scope", part))
        realm = params["realm"]
        parts = urlsplit(realm)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise AuthError(f"{self.endpoint.host}: token realm {realm!r} is not an HTTP URL", 401)
        # Never send credentials in clear text because an HTTPS registry's challenge asked to.
        if self.has_credentials and not self.endpoint.plain_http and scheme == "http":
            raise AuthError(f"{self.endpoint.host}: token realm {realm} is not HTTPS", 401)
        token_endpoint = Endpoint(
            host=parts.netloc,
            plain_http=scheme == "http",
            verify=self.endpoint.verify,
            cert=self.endpoint.cert,
        )
        method, url, body, headers = self._token_request(realm, query)
        response = self.transport.request(
            method, url, token_endpoint, headers=headers, body=body, allow_redirects=False
        )
        with response:
            if response.status_code in (401, 403):
                what = "anonymous access"
                if self.credentials.identity_token:
                    what = "the identity token"
                elif self.has_credentials:
                    what = "wrong username or password"
                if self.credentials.source:
                    what += f" (from {self.credentials.source})"
                raise AuthError(
                    f"token server {token_endpoint.host} refused {what} for {scope or 'login'} "
                    f"({response.status_code})",
                    response.status_code,
                    "UNAUTHORIZED" if response.status_code == 401 else "DENIED",
                )
            if response.status_code != 200:  # a 5xx is worth another try of the operation
                raise AuthError(
                    f"token server {token_endpoint.host} answered {response.status_code}",
                    response.status_code,
                    retryable=self.transport.retry.retries_status(response.status_code),
                )
            try:
                content = response.json()
                token = content.get("token") or content.get("access_token")
                lifetime = float(content.get("expires_in") or 60)
            except (ValueError, AttributeError, TypeError):
                token, lifetime = None, 0
        if not isinstance(token, str) or not token:
            raise AuthError(f"token server {token_endpoint.host} returned no token")
        with self._lock:
            # Renew a little early so a token does not expire between HEAD and PUT.
            self._tokens[scope] = (token, time.monotonic() + max(lifetime - 5, 1))
        return token
