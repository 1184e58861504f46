"""Credentials from where the other tools keep them, for a registry whose `auths` entry (if
it has one) names none: podman's and skopeo's auth.json, Docker's config.json (`auths`,
`credHelpers`, `credsStore`) and the `docker-credential-<name>` helpers they name.

Files are read in the order containers-auth.json(5) gives, the first with credentials for
the registry winning: `$REGISTRY_AUTH_FILE` (else `$XDG_RUNTIME_DIR/containers/auth.json`),
`$XDG_CONFIG_HOME/containers/auth.json`, then `$DOCKER_CONFIG/config.json` (else
`~/.docker/config.json`). Within one file, Docker's order: a `credHelpers` entry for the host,
else the `auths` entry (the longest `host/path` prefix of the repository), else `credsStore`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import KkImageError
from .reference import DOCKER_HUB, normalize_registry

HELPER_TIMEOUT = 10.0  # seconds a credential helper has to answer
HUB_SERVER = "https://index.docker.io/v1/"  # Docker Hub's key in config.json, and for helpers
IDENTITY_TOKEN_USER = "<token>"  # a helper's Username when its Secret is an identity token


class CredentialsError(KkImageError):
    """A credential file cannot be read, or a credential helper failed (its output, which may
    hold secrets, is never shown)."""


SECRETS = frozenset({"password", "identity_token"})


def repr_without_secrets(record: Any) -> str:
    """A NamedTuple's repr without the fields that hold secrets."""
    shown = (f"{name}={value!r}" for name, value in record._asdict().items() if name not in SECRETS)
    return f"{type(record).__name__}({', '.join(shown)})"


class Credentials(NamedTuple):
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None  # an OAuth2 refresh token
    source: str = ""  # where they came from, for messages

    __repr__ = repr_without_secrets


Found = Credentials | CredentialsError | None  # a lookup's answer, failures included


def auth_files(env: Mapping[str, str]) -> list[Path]:
    home = Path(env.get("HOME") or Path.home())
    primary = env.get("REGISTRY_AUTH_FILE")
    files = []
    if primary:
        files.append(Path(primary))
    elif env.get("XDG_RUNTIME_DIR"):
        files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    files.append(config_home / "containers" / "auth.json")
    files.append(Path(env.get("DOCKER_CONFIG") or home / ".docker") / "config.json")
    return files


def _key(text: str) -> tuple[str, str]:
    """A config key as (registry, repository prefix): `https://host/v1/` is a URL (its host
    only, as Docker reads it); `host/ns` is a repository prefix (as podman writes it)."""
    text = text.strip()
    if "://" in text:
        return normalize_registry(text.split("://", 1)[1].split("/", 1)[0]), ""
    host, _, path = text.partition("/")
    return normalize_registry(host), path.strip("/")


def _fits(prefix: str, repository: str) -> bool:
    return not prefix or repository == prefix or repository.startswith(prefix + "/")


class DockerCredentials:
    """Looks credentials up once per registry and repository, and asks each helper once per
    server, remembering failures too: a broken helper costs one run of it, not one per image."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.files = auth_files(os.environ if env is None else env)
        self._configs: dict[Path, dict[str, Any] | None] = {}
        self._found: dict[tuple[str, str], Found] = {}
        self._answers: dict[tuple[str, str], Found] = {}
        self._lock = threading.Lock()

    def lookup(self, registry: str, repository: str) -> Credentials | None:
        """Credentials for `registry` (as a reference names it) and `repository`, or None."""
        registry = normalize_registry(registry)
        with self._lock:
            return _remembered(
                self._found, (registry, repository), lambda: self._search(registry, repository)
            )

    def _search(self, registry: str, repository: str) -> Credentials | None:
        for path in self.files:
            config = self._config(path)
            if config is not None:
                found = self._in_file(config, path, registry, repository)
                if found is not None:
                    return found
        return None

    def _config(self, path: Path) -> dict[str, Any] | None:
        if path not in self._configs:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._configs[path] = None
                return None
            except (OSError, UnicodeDecodeError) as exc:
                raise CredentialsError(f"cannot read credentials from {path}: {exc}") from None
            try:
                config = json.loads(text) if text.strip() else {}
            except ValueError:
                raise CredentialsError(f"{path} is not valid JSON") from None
            if not isinstance(config, dict):
                raise CredentialsError(f"{path} does not hold a JSON object")
            self._configs[path] = config
        return self._configs[path]

    def _in_file(
        self, config: dict[str, Any], path: Path, registry: str, repository: str
    ) -> Credentials | None:
        helpers = config.get("credHelpers") or {}
        for name, helper in helpers.items() if isinstance(helpers, dict) else ():
            if _key(name)[0] == registry:
                return self._ask(str(helper), _server(registry, name), path)
        auths = config.get("auths") or {}
        entries = [
            (len(prefix), name, entry)
            for name, entry in (auths.items() if isinstance(auths, dict) else ())
            for host, prefix in [_key(name)]
            if host == registry and _fits(prefix, repository) and isinstance(entry, dict)
        ]
        written = None
        for _, name, entry in sorted(entries, key=lambda e: -e[0]):
            written = written or name
            found = _from_entry(entry, name, path)
            if found is not None:
                return found
        if config.get("credsStore"):
            return self._ask(str(config["credsStore"]), _server(registry, written), path)
        return None

    def _ask(self, helper: str, server: str, path: Path) -> Credentials | None:
        return _remembered(
            self._answers, (helper, server), lambda: _run_helper(helper, server, path)
        )


def _remembered(
    cache: dict[tuple[str, str], Found],
    key: tuple[str, str],
    find: Callable[[], Credentials | None],
) -> Credentials | None:
    """`find()` once per key; its CredentialsError is remembered and raised again."""
    if key not in cache:
        try:
            cache[key] = find()
        except CredentialsError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, CredentialsError):
        raise found
    return found


def _server(registry: str, written: str | None) -> str:
    """What a helper is asked for: the key as `docker login` wrote it, else the host."""
    if written:
        return written
    return HUB_SERVER if registry == DOCKER_HUB else registry


def _from_entry(entry: dict[str, Any], name: str, path: Path) -> Credentials | None:
    source = f"{path} ({name})"
    username, password = entry.get("username"), entry.get("password")
    if entry.get("auth"):
        try:
            pair = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(
                f"{path}: auths {name!r}: 'auth' is not base64 of username:password"
            ) from None
        username, _, password = pair.partition(":")
    token = entry.get("identitytoken")
    if not (username or password or token):
        return None  # `{}`: the credentials are in credsStore
    return Credentials(username or None, password or None, token or None, source)


def _run_helper(helper: str, server: str, path: Path) -> Credentials | None:
    """`docker-credential-<helper> get`, the server on stdin, JSON on stdout."""
    import shutil  # a run that needs no helper does not import these (start-up time)
    import subprocess

    program = f"docker-credential-{helper}"
    executable = shutil.which(program)
    if executable is None:
        raise CredentialsError(f"credential helper {program} (named in {path}) is not on PATH")
    try:
        process = subprocess.Popen(
            [executable, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so that a hung helper and its children can be killed
        )
    except OSError as exc:
        raise CredentialsError(f"credential helper {program} cannot be run: {exc}") from None
    try:
        stdout, stderr = process.communicate(server.encode(), timeout=HELPER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise CredentialsError(
            f"credential helper {program} did not answer for {server} within {HELPER_TIMEOUT:.0f} s"
        ) from None
    if process.returncode != 0:
        if b"credentials not found" in (stdout + stderr).lower():
            return None
        raise CredentialsError(
            f"credential helper {program} failed for {server} (exit {process.returncode}; "
            "its output is not shown)"
        )
    try:
        answer = json.loads(stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(
            f"credential helper {program} answered {server} with something other than "
            "its JSON (not shown)"
        ) from None
    if username == IDENTITY_TOKEN_USER:
        return Credentials(identity_token=secret, source=program)
    return Credentials(username or None, secret or None, source=program)
