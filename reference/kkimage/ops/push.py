"""push: local store -> registry, the destination of each image rendered from `dest`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import KkImageError, TaskError
from ..manifest import Manifest
from ..reference import ImageReference
from ..registry import Registries, Registry
from ..store import Store, StoredImage
from ..task import PushSpec
from ..template import render_destination
from .engine import BlobOutcome, Engine, ImageResult
from .plan import image_done, plan_image, selected_images, with_destinations


class _FirstPushes:
    """The first push of each blob to each registry in this run, and its repository: later
    images for other repositories wait for it and then mount instead of uploading."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[str, Future[BlobOutcome]]] = {}
        self._lock = threading.Lock()

    def get_or_start(
        self, host: str, digest: str, repository: str, start: Callable[[], Future[BlobOutcome]]
    ) -> tuple[str, Future[BlobOutcome], bool]:
        with self._lock:
            if (host, digest) in self._first:
                owner, future = self._first[(host, digest)]
                return owner, future, False
            future = start()
            self._first[(host, digest)] = (repository, future)
            return repository, future, True


def _push_blob(
    registry: Registry,
    store: Store,
    repository: str,
    blob: dict,
    mount_from: str | None,
    check: bool,
) -> BlobOutcome:
    """Upload (or mount) a blob; `check`: ask first whether the repository has it."""
    digest, size = blob["digest"], blob["size"]
    if check and registry.has_blob(repository, digest, "pull,push"):
        return BlobOutcome(skipped=size)
    upload_url = None
    if mount_from is not None:
        upload_url = registry.mount_blob(repository, digest, mount_from)
        if upload_url is None:
            return BlobOutcome(mounted=size)
    registry.push_blob(repository, digest, size, lambda: store.open_blob(digest), upload_url)
    return BlobOutcome(transferred=size)


def _push_image(
    engine: Engine,
    registries: Registries,
    store: Store,
    firsts: _FirstPushes,
    image: StoredImage,
    dest: ImageReference,
) -> ImageResult:
    source = image.reference
    result = ImageResult("push", str(source), str(dest), source_digest=image.manifest.digest)
    if dest.digest and dest.digest != image.manifest.digest:
        raise KkImageError(
            f"{source}: destination {dest} names a digest other than the image's "
            f"{image.manifest.digest}"
        )
    registry = registries.for_reference(dest)
    repository = dest.repository
    plan = plan_image(
        source,
        image.manifest,
        lambda digests: [store.read_manifest(source, d) for d in digests],
        lambda config: b"",
        None,
        "strict",
        engine.warn,
    )
    for blob in plan.blobs:
        store.open_blob(blob["digest"]).close()  # fail before any upload if the store lacks it
    # A repository without tags that lacks the image's largest blob is new (or holds no
    # earlier attempt worth asking about): save a HEAD per blob and manifest.
    largest = max(plan.blobs, key=lambda b: b["size"], default=None)
    check = registry.has_tags(repository, "pull,push") or (
        largest is not None and registry.has_blob(repository, largest["digest"], "pull,push")
    )

    def submit(blob: dict, mount_from: str | None) -> tuple[Future[BlobOutcome], bool]:
        return engine.once(
            ("push", registry.host, repository, blob["digest"]),
            lambda: _push_blob(registry, store, repository, blob, mount_from, check),
        )

    def put(manifest: Manifest, reference: str) -> None:
        if not check or registry.manifest_digest(repository, reference, "pull,push") != (
            manifest.digest
        ):
            registry.put_manifest(repository, reference, manifest)

    mine, later = [], []
    for blob in plan.blobs:
        owner, first, started = firsts.get_or_start(
            registry.host, blob["digest"], repository, lambda b=blob: submit(b, None)[0]
        )
        if owner == repository:
            mine.append((first, started))
        else:
            later.append((blob, owner, first))
    for future, owned in mine:
        result.add(future.result(), owned)
    for blob, owner, first in later:
        first.result()  # the blob is in `owner` now: mount it from there
        future, owned = submit(blob, owner)
        result.add(future.result(), owned)

    # Image manifests at once, then indexes in order (each after what it lists), the root last.
    images = [c for c in plan.children if not c.is_index]
    for future, _ in [engine.once(("put", registry.host, repository, c.digest),
                                  lambda c=c: put(c, c.digest)) for c in images]:  # fmt: skip
        future.result()
    for index in (c for c in plan.children if c.is_index):
        put(index, index.digest)
    put(plan.root, dest.tag or dest.digest or "")
    return image_done(engine, store, plan, result)


def _refuse_collisions(pairs: list[tuple[StoredImage, ImageReference]]) -> None:
    """Two different images rendered to one destination: one would silently overwrite the
    other, in no fixed order."""
    seen: dict[str, StoredImage] = {}
    for image, dest in pairs:
        other = seen.setdefault(str(dest), image)
        if other.manifest.digest != image.manifest.digest:
            raise TaskError(
                f"push: {other.reference} and {image.reference} would both be pushed to {dest}; "
                "make dest tell them apart (e.g. with .module.image.src.reference.repository)"
            )


def push(
    engine: Engine, registries: Registries, spec: PushSpec, variables: dict[str, Any]
) -> list[ImageResult]:
    store = Store(spec.images_dir)
    images = selected_images(store, spec.src_pattern, None, engine.warn)
    if not images:
        engine.warn(f"nothing to push: no image in {store.root} matches")
    firsts = _FirstPushes()
    pairs = with_destinations(
        images, lambda ref: render_destination(spec.dest, ref, variables), "push"
    )
    _refuse_collisions(pairs)
    return engine.for_each(
        pairs,
        lambda pair: _push_image(engine, registries, store, firsts, *pair),
        label=lambda pair: f"push {pair[0].reference}",
    )
