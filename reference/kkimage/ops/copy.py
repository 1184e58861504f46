"""copy: local store -> local store (`to.path` rendered per image), with platform filtering."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import Cancelled, DigestMismatch, TaskError
from ..reference import ImageReference
from ..store import Store, StoredImage
from ..task import CopySpec
from ..template import source_variables
from .engine import BlobOutcome, Engine, ImageResult
from .plan import finish_into_store, plan_image, selected_images, skipped, with_destinations

CHUNK = 1 << 20


def copy_blob(engine: Engine, source: Store, target: Store, blob: dict) -> BlobOutcome:
    """Copy a blob, re-hashing it: a damaged source blob is refused, not propagated."""
    digest, size = blob["digest"], blob["size"]
    if target.has_blob(digest, size):
        return BlobOutcome(skipped=size)
    engine.progress.expect(size)
    with source.open_blob(digest) as reader, target.blob_writer(digest, size) as writer:
        while chunk := reader.read(CHUNK):
            if engine.cancelled.is_set():
                raise Cancelled()
            writer.write(chunk)
            engine.progress.advance(len(chunk))
        try:
            writer.commit()
        except DigestMismatch as exc:
            what = f"blob {digest} in store {source.root}"
            raise DigestMismatch(what, exc.expected, exc.actual) from None
    return BlobOutcome(transferred=size)


class _Targets:
    """Destination stores by path: one Store object per path, shared by images."""

    def __init__(self) -> None:
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> Store:
        with self._lock:
            return self._stores.setdefault(path, Store(path))


def _copy_image(
    engine: Engine,
    source: Store,
    targets: _Targets,
    spec: CopySpec,
    image: StoredImage,
    target_path: str,
) -> ImageResult:
    ref = image.reference
    target = targets.get(target_path)
    result = ImageResult("copy", f"{source.root}:{ref}", str(target.root))
    result.source_digest = image.manifest.digest

    def get_config(descriptor: dict) -> bytes:
        with source.open_blob(descriptor["digest"]) as handle:
            return handle.read()

    plan = plan_image(
        ref,
        image.manifest,
        lambda digests: [source.read_manifest(ref, d) for d in digests],
        get_config,
        spec.platform,
        spec.policy,
        engine.warn,
    )
    if plan.skipped:
        return skipped(engine, plan, result)
    futures = [
        engine.once(
            ("copy", target.root, blob["digest"]),
            lambda b=blob: copy_blob(engine, source, target, b),
        )
        for blob in plan.blobs
    ]
    for future, owned in futures:
        result.add(future.result(), owned)
    return finish_into_store(engine, target, plan, result)


def _target(spec: CopySpec, ref: ImageReference, variables: dict[str, Any]) -> str:
    path = spec.to_path.render(source_variables(ref, variables)).strip()
    if not path:
        raise TaskError(f"to.path {spec.to_path.text!r} renders to an empty path")
    return str(Path(path).expanduser())


def copy(engine: Engine, spec: CopySpec, variables: dict[str, Any]) -> list[ImageResult]:
    source = Store(spec.from_path)
    images = selected_images(source, spec.pattern, spec.manifests, engine.warn)
    targets = _Targets()
    pairs = with_destinations(images, lambda ref: _target(spec, ref, variables), "copy")
    return engine.for_each(
        pairs,
        lambda pair: _copy_image(engine, source, targets, spec, *pair),
        label=lambda pair: f"copy {pair[0].reference}",
    )
