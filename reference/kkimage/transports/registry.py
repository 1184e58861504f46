"""A registry (`oci://HOST/REPO:TAG`) as a transport, through the distribution API."""

from __future__ import annotations

from collections.abc import Hashable

from ..blobs import BlobOpener, VerifiedReader
from ..manifest import Manifest
from ..reference import ImageReference
from ..registry import Registries, Registry
from .base import BlobOutcome, Progress, Transport

PUSH = "pull,push"


class RegistryTransport(Transport):
    can_mount = True
    checks_digests = True  # an upload whose content is not its digest is refused

    def __init__(self, registries: Registries) -> None:
        self.registries = registries

    def _client(self, ref: ImageReference) -> Registry:
        return self.registries.for_reference(ref)

    def resolve(self, ref: ImageReference) -> Manifest:
        return self._client(ref).get_manifest(ref.repository, ref.reference)

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        return self._client(ref).get_manifest(ref.repository, digest)

    def config(self, ref: ImageReference, descriptor: dict) -> bytes:
        return self._client(ref).read_blob(ref.repository, descriptor["digest"])

    def open_blob(
        self, ref: ImageReference, descriptor: dict, progress: Progress | None = None
    ) -> VerifiedReader:
        return self._client(ref).open_blob(ref.repository, descriptor, progress)

    def begin_image(self, ref: ImageReference, root: Manifest, blobs: list[dict]) -> bool:
        """A repository without tags that lacks the image's largest blob is new (or holds no
        earlier attempt worth asking about): save a HEAD per blob and manifest."""
        client = self._client(ref)
        if client.has_tags(ref.repository, PUSH):
            return True
        largest = max(blobs, key=lambda b: b["size"], default=None)
        return largest is not None and client.has_blob(ref.repository, largest["digest"], PUSH)

    def blob_key(self, ref: ImageReference, digest: str) -> Hashable:
        return ("registry", self._client(ref).host, ref.repository, digest)

    def has_blob(self, ref: ImageReference, descriptor: dict) -> bool:
        return self._client(ref).has_blob(ref.repository, descriptor["digest"], PUSH)

    def put_blob(
        self, ref: ImageReference, descriptor: dict, open_source: BlobOpener, mount: str | None
    ) -> BlobOutcome:
        client = self._client(ref)
        upload_url = None
        if mount is not None:
            upload_url = client.mount_blob(ref.repository, descriptor["digest"], mount)
            if upload_url is None:
                return BlobOutcome(mounted=descriptor["size"])
        client.push_blob(ref.repository, descriptor, open_source, upload_url)
        return BlobOutcome(transferred=descriptor["size"])

    def put_manifest(self, ref: ImageReference, name: str, manifest: Manifest, check: bool) -> None:
        client = self._client(ref)
        if check and client.manifest_digest(ref.repository, name, PUSH) == manifest.digest:
            return
        client.put_manifest(ref.repository, name, manifest)

    def host_of(self, ref: ImageReference) -> str:
        return self._client(ref).host
