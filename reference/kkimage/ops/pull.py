"""pull: registry -> local store."""

from __future__ import annotations

from ..registry import Registries
from ..store import Store
from ..task import PullSpec
from ..transports import RegistryTransport, StoreTransport
from .engine import Engine, ImageResult
from .transfer import Run, Selection, Transfer


def pull(engine: Engine, registries: Registries, spec: PullSpec) -> list[ImageResult]:
    store = StoreTransport(Store(spec.images_dir))
    run = Run(engine, RegistryTransport(registries), "pull", Selection(spec.platform, spec.policy))
    return run.transfer([Transfer(ref, ref, store) for ref in spec.manifests])
