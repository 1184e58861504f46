"""push: local store -> registry, the destination of each image rendered from `dest`."""

from __future__ import annotations

from typing import Any

from ..errors import TaskError
from ..reference import ImageReference
from ..registry import Registries
from ..store import Store, StoredImage
from ..task import PushSpec
from ..template import render_destination
from ..transports import RegistryTransport, StoreTransport
from .engine import Engine, ImageResult
from .plan import selected_images, with_destinations
from .transfer import Run, Transfer


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
    pairs = with_destinations(
        images, lambda ref: render_destination(spec.dest, ref, variables), "push"
    )
    _refuse_collisions(pairs)
    target = RegistryTransport(registries)
    items = [Transfer(image.reference, dest, target, image.manifest) for image, dest in pairs]
    return Run(engine, StoreTransport(store), "push").transfer(items)
