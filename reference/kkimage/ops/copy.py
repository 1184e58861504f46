"""copy: local store -> local store (`to.path` rendered per image), with platform filtering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TaskError
from ..reference import ImageReference
from ..store import Store
from ..task import CopySpec
from ..template import source_variables
from ..transports import StoreTransport
from .engine import Engine, ImageResult
from .plan import selected_images, with_destinations
from .transfer import Run, Selection, Transfer


def _target(spec: CopySpec, ref: ImageReference, variables: dict[str, Any]) -> str:
    path = spec.to_path.render(source_variables(ref, variables)).strip()
    if not path:
        raise TaskError(f"to.path {spec.to_path.text!r} renders to an empty path")
    return str(Path(path).expanduser())


def copy(engine: Engine, spec: CopySpec, variables: dict[str, Any]) -> list[ImageResult]:
    source = Store(spec.from_path)
    images = selected_images(source, spec.pattern, spec.manifests, engine.warn)
    pairs = with_destinations(images, lambda ref: _target(spec, ref, variables), "copy")
    targets: dict[str, StoreTransport] = {}  # one per path, shared by its images
    items = [
        Transfer(
            image.reference,
            image.reference,
            targets.setdefault(path, StoreTransport(Store(path))),
            image.manifest,
        )
        for image, path in pairs
    ]
    run = Run(engine, StoreTransport(source), "copy", Selection(spec.platform, spec.policy))
    return run.transfer(items)
