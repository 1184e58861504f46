"""mirror: registry -> registry, streamed (no store on disk), mounting what the target has."""

from __future__ import annotations

from typing import Any

from ..errors import KkImageError
from ..registry import Registries
from ..task import MirrorSpec
from ..template import render_destination
from ..transports import RegistryTransport
from .engine import Engine, ImageResult
from .transfer import Run, Selection, Transfer


def mirror(
    engine: Engine, registries: Registries, spec: MirrorSpec, variables: dict[str, Any]
) -> list[ImageResult]:
    registry = RegistryTransport(registries)
    items = []
    for ref in spec.manifests:  # all rendered before anything moves
        try:
            items.append(Transfer(ref, render_destination(spec.dest, ref, variables), registry))
        except KkImageError as exc:
            exc.add_context(f"mirror {ref}")
            raise
    run = Run(engine, registry, "mirror", Selection(spec.platform, spec.policy))
    return run.transfer(items)
