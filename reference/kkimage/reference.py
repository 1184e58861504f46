"""Image references: the distribution reference grammar plus KubeKey's G1 normalization."""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import ReferenceError_

DOCKER_HUB = "docker.io"
# Names under which Docker Hub appears in references and in stores written by other tools.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_API = "registry-1.docker.io"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_OTHER_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
MAX_NAME_LENGTH = 255


class ImageReference(NamedTuple):
    """A fully qualified reference: registry, repository and a tag, a digest or both."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the registry is asked for and what names the root in the store.

        A digest wins when both are given (the content is pinned); the tag then only names
        the stored copy, see `store_name`.
        """
        return self.digest or self.tag or ""

    @property
    def store_name(self) -> str:
        """File name of the root under manifests/: the tag if there is one, else the digest."""
        return self.tag or self.digest or ""

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def normalize_registry(host: str) -> str:
    """Docker Hub's aliases become docker.io; hosts are case-insensitive."""
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def is_registry_component(component: str) -> bool:
    """G1 rule: a first path component names a registry if it is localhost or has '.' or ':'."""
    return component == "localhost" or "." in component or ":" in component


def parse_reference(text: object, *, require_tag_or_digest: bool = True) -> ImageReference:
    """Parse and normalize `text`; raise ReferenceError_ with the reason if it is not valid."""
    if not isinstance(text, str) or not text.strip():
        raise ReferenceError_(f"invalid image reference {text!r}: expected a non-empty string")
    raw = text.strip()

    def fail(reason: str) -> ReferenceError_:
        return ReferenceError_(f"invalid image reference {raw!r}: {reason}")

    name, digest = raw, None
    if "@" in raw:
        name, digest = raw.split("@", 1)
        if not DIGEST.fullmatch(digest):
            if _OTHER_DIGEST.fullmatch(digest):
                raise fail(f"unsupported digest {digest!r} (only sha256 is supported)")
            raise fail(f"malformed digest {digest!r} (expected sha256:<64 lowercase hex>)")

    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise fail(f"invalid tag {tag!r}")

    if not name:
        raise fail("missing repository name")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise fail("empty, '.' or '..' path component")
    if len(parts) > 1 and is_registry_component(parts[0]):
        if not _HOST.fullmatch(parts[0]):
            raise fail(f"invalid registry host {parts[0]!r}")
        registry, repository = normalize_registry(parts[0]), "/".join(parts[1:])
    else:
        registry, repository = DOCKER_HUB, name
    if not _PATH.fullmatch(repository):
        raise fail(
            f"invalid repository {repository!r} (lowercase letters, digits and separators . _ - "
            "between them)"
        )
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if len(f"{registry}/{repository}") > MAX_NAME_LENGTH:
        raise fail(f"name longer than {MAX_NAME_LENGTH} characters")
    if require_tag_or_digest and tag is None and digest is None:
        raise fail(f"no tag or digest (kkimage never assumes 'latest'; write {raw}:latest)")
    return ImageReference(registry, repository, tag, digest)
