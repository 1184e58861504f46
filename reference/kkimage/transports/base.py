"""The protocol every transport follows: read a root, its children, configs and blobs as
verified streams; say what the location has; write blobs and the image's manifests."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import NamedTuple

from ..blobs import BlobOpener, VerifiedReader
from ..manifest import Manifest
from ..reference import ImageReference

Progress = Callable[[int], None]


class BlobOutcome(NamedTuple):
    transferred: int = 0  # bytes sent or received
    skipped: int = 0  # bytes already at the destination
    mounted: int = 0  # bytes mounted from another repository of the registry


class Transport:
    """A location of images. Reading methods name images as the location names them;
    writing methods take the destination's reference. Defaults: what a location without
    the capability answers."""

    can_mount = False  # cross-repository mounts within one host (registries)
    checks_digests = False  # refuses, itself, content that does not match its digest

    # ---- reading -----------------------------------------------------------------------------

    def resolve(self, ref: ImageReference) -> Manifest:
        """The root manifest `ref` names (a tag@digest reference must match its digest)."""
        raise NotImplementedError

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        """A child manifest of `ref`'s repository, verified against `digest`."""
        raise NotImplementedError

    def config(self, ref: ImageReference, descriptor: dict) -> bytes:
        """A small blob (an image config), whole and verified."""
        raise NotImplementedError

    def open_blob(
        self, ref: ImageReference, descriptor: dict, progress: Progress | None = None
    ) -> VerifiedReader:
        raise NotImplementedError

    def ensure_blobs(self, ref: ImageReference, blobs: list[dict]) -> None:
        """Raise before anything moves if a blob the image needs cannot be read at all."""

    # ---- what a destination has --------------------------------------------------------------

    def stored_manifest(self, ref: ImageReference, digest: str) -> Manifest | None:
        """The manifest if this location already holds it (read instead of fetching)."""
        return None

    def stored_config(self, ref: ImageReference, descriptor: dict) -> bytes | None:
        return None

    def begin_image(self, ref: ImageReference, root: Manifest, blobs: list[dict]) -> bool:
        """Called once per image (`root` as it will be written) before its blobs: raises if
        the location cannot hold it; False when nothing of it can be there yet (a new
        repository), which saves asking for each blob and manifest."""
        return True

    def blob_key(self, ref: ImageReference, digest: str) -> Hashable:
        """What two transfers of one blob share: a second transfer waits for the first."""
        raise NotImplementedError

    def has_blob(self, ref: ImageReference, descriptor: dict) -> bool:
        raise NotImplementedError

    # ---- writing -----------------------------------------------------------------------------

    def put_blob(
        self, ref: ImageReference, descriptor: dict, open_source: BlobOpener, mount: str | None
    ) -> BlobOutcome:
        """Write the blob `open_source` streams (verified); `mount`: a repository of this host
        that has it (mount it from there where the location can)."""
        raise NotImplementedError

    def put_manifest(self, ref: ImageReference, name: str, manifest: Manifest, check: bool) -> None:
        """Write `manifest` under `name` (a tag, or its digest) in `ref`'s repository, unless
        it is there already; `check`: whether it may be (see `begin_image`)."""
        raise NotImplementedError

    def put_root(self, ref: ImageReference, manifest: Manifest, check: bool) -> None:
        """Write the root, under `ref`'s tag or digest: after it the image is complete."""
        self.put_manifest(ref, ref.store_name, manifest, check)

    def finish(self) -> None:
        """After the last image: make the whole visible (an archive gets its name)."""

    def abort(self) -> None:
        """After a failure: leave nothing that looks whole."""

    def settle(self) -> None:
        """After a run's images, failed ones too: keep what was written (a store names the
        small blobs it has not named yet)."""

    def describe(self, ref: ImageReference) -> str:
        """The image at this location, for messages and summaries."""
        return str(ref)

    def host_of(self, ref: ImageReference) -> str:
        """The host whose repositories can mount from each other (registries only)."""
        return ""
