"""Manifest media types and what a manifest refers to."""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from .errors import DigestMismatch, ManifestError
from .reference import DIGEST

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
# What we ask registries for, preferred first.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(what: str, data: bytes, expected: str) -> None:
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatch(what, expected, actual)


class Manifest(NamedTuple):
    """A manifest's exact bytes with its parsed form; the digest is of the bytes."""

    raw: bytes
    media_type: str
    content: dict

    @classmethod
    def parse(cls, raw: bytes, content_type: str | None = None, *, what: str = "manifest"):
        """Parse and validate: every descriptor must carry a sha256 digest and a size."""
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{what} is not valid JSON: {exc}") from None
        return cls.from_content(raw, content, content_type, what=what)

    @classmethod
    def from_content(
        cls, raw: bytes, content: object, content_type: str | None = None, *, what: str
    ) -> Manifest:
        """`parse` for bytes already decoded into `content`."""
        if not isinstance(content, dict):
            raise ManifestError(f"{what} is not a JSON object")
        media_type = content.get("mediaType") or _bare_media_type(content_type) or _guess(content)
        if media_type not in MANIFEST_TYPES:
            raise ManifestError(f"{what} has unsupported media type {media_type!r}")
        if media_type in INDEX_TYPES:
            _check_descriptors(what, "manifests", content.get("manifests"))
        else:
            _check_descriptors(what, "config", [content.get("config")])
            _check_descriptors(what, "layers", content.get("layers", []))
        return cls(raw, media_type, content)

    @property
    def digest(self) -> str:
        return sha256_digest(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def children(self) -> list[dict]:
        """Descriptors of child manifests (indexes only)."""
        return self.content["manifests"] if self.is_index else []

    @property
    def config(self) -> dict | None:
        return None if self.is_index else self.content["config"]

    @property
    def blobs(self) -> list[dict]:
        """Config and layer descriptors (image manifests only), without duplicates."""
        if self.is_index:
            return []
        found = [self.config] if self.config else []
        found += self.content.get("layers", [])
        unique: dict[str, dict] = {}
        for descriptor in found:
            unique.setdefault(descriptor["digest"], descriptor)
        return list(unique.values())

    def filtered(self, kept: list[dict]) -> Manifest:
        """A copy of this index keeping only `kept` children; every other field as it was.

        Serialization is deterministic (key order of the original, compact separators) so
        that the same input and filter always give the same digest.
        """
        content = {k: (kept if k == "manifests" else v) for k, v in self.content.items()}
        raw = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
        return Manifest(raw, self.media_type, content)


def _bare_media_type(content_type: str | None) -> str | None:
    return content_type.split(";")[0].strip() if content_type else None


def looks_like_manifest(content: object) -> bool:
    """A manifest or index; `mediaType` is optional in OCI, so its shape counts too."""
    if not isinstance(content, dict):
        return False
    if content.get("mediaType") in MANIFEST_TYPES:
        return True
    return content.get("schemaVersion") == 2 and _guess(content) is not None


def _guess(content: dict) -> str | None:
    if "manifests" in content:
        return OCI_INDEX
    if "config" in content and "layers" in content:
        return OCI_MANIFEST
    return None


def _check_descriptors(what: str, field: str, value: object) -> None:
    if not isinstance(value, list):
        raise ManifestError(f"{what}: {field!r} is not a list")
    for descriptor in value:
        if not (
            isinstance(descriptor, dict)
            and isinstance(descriptor.get("digest"), str)
            and DIGEST.fullmatch(descriptor["digest"])
            and isinstance(descriptor.get("size"), int)
            and descriptor["size"] >= 0
        ):
            raise ManifestError(
                f"{what}: {field!r} holds an invalid descriptor (need a sha256 digest and a size)"
            )
