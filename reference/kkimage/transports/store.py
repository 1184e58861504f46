"""A KubeKey store (`local://DIR`) as a transport: reads layouts L1 and L2, writes L1."""

from __future__ import annotations

from collections.abc import Hashable

from ..blobs import BlobOpener, VerifiedReader
from ..errors import StoreError
from ..manifest import Manifest
from ..reference import ImageReference
from ..store import Store
from .base import BlobOutcome, Progress, Transport


class StoreTransport(Transport):
    def __init__(self, store: Store) -> None:
        self.store = store

    def resolve(self, ref: ImageReference) -> Manifest:
        return self.store.resolve(ref)

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        return self.store.read_manifest(ref, digest)

    def config(self, ref: ImageReference, descriptor: dict) -> bytes:
        found = self.store.read_blob(descriptor)
        if found is None:
            raise StoreError(f"blob {descriptor['digest']} is missing from store {self.store.root}")
        return found

    def open_blob(
        self, ref: ImageReference, descriptor: dict, progress: Progress | None = None
    ) -> VerifiedReader:
        return self.store.open_blob(descriptor, progress)

    def ensure_blobs(self, ref: ImageReference, blobs: list[dict]) -> None:
        for blob in blobs:
            if not self.store.has_blob(blob["digest"]):
                raise StoreError(f"blob {blob['digest']} is missing from store {self.store.root}")

    def stored_manifest(self, ref: ImageReference, digest: str) -> Manifest | None:
        try:
            return self.store.read_manifest(ref, digest)  # verified against its digest
        except StoreError:  # not in the store (or unreadable)
            return None

    def stored_config(self, ref: ImageReference, descriptor: dict) -> bytes | None:
        return self.store.read_blob(descriptor)

    def blob_key(self, ref: ImageReference, digest: str) -> Hashable:
        return ("store", self.store.root, digest)

    def has_blob(self, ref: ImageReference, descriptor: dict) -> bool:
        return self.store.has_blob(descriptor["digest"], descriptor["size"])

    def put_blob(
        self, ref: ImageReference, descriptor: dict, open_source: BlobOpener, mount: str | None
    ) -> BlobOutcome:
        with open_source() as reader:
            self.store.put_blob(reader)
        return BlobOutcome(transferred=descriptor["size"])

    def put_manifest(self, ref: ImageReference, name: str, manifest: Manifest, check: bool) -> None:
        if name.startswith("sha256:") and self.store.has_manifest(ref, name):
            return
        self.store.write_manifest(ref, name, manifest)

    def settle(self) -> None:
        self.store.name_blobs()

    def describe(self, ref: ImageReference) -> str:
        return f"{self.store.root}:{ref}"
