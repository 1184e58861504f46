"""Argument values of tasks, checked before any I/O, with one wording for every format:
each error names where the value is (`task 'pull': pull.platform[1]: ...`) and why."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .auth import AuthEntry, split_host
from .errors import KkImageError, TaskError
from .platform import PlatformFilter
from .reference import ImageReference, normalize_registry, parse_reference
from .template import DestinationTemplate

Warn = Callable[[str], None]
POLICIES = ("strict", "warn")

_AUTH_KEYS = {
    "repo",
    "registry",
    "username",
    "password",
    "insecure",
    "skip_tls_verify",
    "plain_http",
    "ca_file",
    "cert_file",
    "key_file",
}


def expect_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TaskError(f"{where}: expected a string, got {type(value).__name__}")
    return str(value)


def expect_bool(value: object, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TaskError(f"{where}: expected true or false, got {value!r}")


def skip_tls_verify(args: dict, where: str) -> bool:
    """An operation's `skip_tls_verify`: the default for entries that do not say `insecure`."""
    return bool(expect_bool(args.get("skip_tls_verify"), f"{where}.skip_tls_verify"))


def expect_str_list(value: object, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise TaskError(f"{where}: expected a list of strings, got {type(value).__name__}")
    return [expect_str(item, f"{where}[{i}]") or "" for i, item in enumerate(value)]


def mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TaskError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def warn_unknown(args: dict, known: set[str], where: str, warn: Warn) -> None:
    for key in sorted(set(args) - known, key=str):
        warn(f"{where}: unknown key {key!r} ignored")


def regex(value: object, where: str) -> re.Pattern[str] | None:
    text = expect_str(value, where)
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise TaskError(f"{where}: invalid regular expression {text!r}: {exc}") from None


def store_dir(value: object, where: str) -> Path:
    text = expect_str(value, where)
    if not text or not text.strip():
        raise TaskError(f"{where}: a local directory is required")
    return Path(text.strip()).expanduser()


def references(value: object, where: str) -> list[ImageReference]:
    texts = expect_str_list(value, where)
    if not texts:
        raise TaskError(f"{where}: at least one image reference is required")
    refs = []
    for i, text in enumerate(texts):
        try:
            refs.append(parse_reference(text))
        except KkImageError as exc:
            raise TaskError(f"{where}[{i}]: {exc}") from None
    return refs


def platform(value: object, where: str) -> PlatformFilter | None:
    try:
        return PlatformFilter.from_argument(value)
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None


def policy(value: object, where: str) -> str:
    text = expect_str(value, where) or "strict"
    if text not in POLICIES:
        raise TaskError(f"{where}: expected strict or warn, got {text!r}")
    return text


def destination(value: object, where: str) -> DestinationTemplate:
    text = expect_str(value, where)
    if not text or not text.strip():
        raise TaskError(f"{where}: a destination is required")
    try:
        return DestinationTemplate(text.strip())
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None


def parse_auths(value: object, where: str, warn: Warn) -> list[AuthEntry]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TaskError(f"{where}: expected a list of entries with repo, username, password")
    return [parse_auth_entry(item, f"{where}[{i}]", warn) for i, item in enumerate(value)]


def _credential(value: object, where: str) -> str | None:
    """YAML has already turned an unquoted 012345 into 5349: refuse rather than guess."""
    if value is None or isinstance(value, str):
        return value
    raise TaskError(f'{where}: must be a string; quote it in YAML (e.g. password: "012345")')


def _existing_file(value: object, where: str) -> str | None:
    text = expect_str(value, where)
    if text is None:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise TaskError(f"{where}: no such file {text!r}")
    return str(path)


def parse_auth_entry(value: object, where: str, warn: Warn) -> AuthEntry:
    args = mapping(value, where)
    warn_unknown(args, _AUTH_KEYS, where, warn)
    repo = expect_str(args.get("repo", args.get("registry")), f"{where}.repo")
    if not repo or not repo.strip():
        raise TaskError(f"{where}: 'repo' must be a registry address like registry.example:5000")
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", repo.strip())
    registry, _, path = text.partition("/")
    host, port = split_host(registry)
    if not host or (port is not None and not port.isdigit()):
        raise TaskError(f"{where}: invalid registry address {repo!r}")
    insecure = args.get("insecure", args.get("skip_tls_verify"))
    return AuthEntry(
        host=normalize_registry(host),
        port=port,
        path=path.strip("/"),
        username=_credential(args.get("username"), f"{where}.username"),
        password=_credential(args.get("password"), f"{where}.password"),
        insecure=expect_bool(insecure, f"{where}.insecure"),
        plain_http=bool(expect_bool(args.get("plain_http"), f"{where}.plain_http")),
        ca_file=_existing_file(args.get("ca_file"), f"{where}.ca_file"),
        cert_file=_existing_file(args.get("cert_file"), f"{where}.cert_file"),
        key_file=_existing_file(args.get("key_file"), f"{where}.key_file"),
    )
