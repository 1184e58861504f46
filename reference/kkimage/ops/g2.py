"""A G2 task (`manifests`/`src`/`dest`): each image's src and dest rendered, then the one copy
algorithm between the transports they name; a local:// destination is written in layout L2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import KkImageError, TaskError
from ..g2 import G2Spec
from ..reference import ImageReference
from ..registry import Registries
from ..store import Store
from ..template import DestinationTemplate, read_digest_as_tag, source_variables, tagged_like
from ..transports import RegistryTransport, StoreTransport, Transport
from ..transports.locations import Location, parse_location
from .engine import Engine, ImageResult
from .plan import selected_images
from .transfer import Run, Selection, Transfer

# (src is a registry, dest is a registry) -> what the transfer is called
_OPERATIONS = {
    (True, False): "pull",
    (False, True): "push",
    (False, False): "copy",
    (True, True): "mirror",
}


def _render(template: DestinationTemplate, ref: ImageReference | None, variables, where: str):
    """`src` or `dest` for one image (or for none: a store to list); `oci://repo:sha256:<hex>`
    (a digest rendered where a tag goes) is `oci://repo@sha256:<hex>`."""
    values = source_variables(ref, variables) if ref is not None else variables
    try:
        text = template.render(values).strip()
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None
    return parse_location(read_digest_as_tag(text), where)


def _as_named(location: Location, ref: ImageReference) -> ImageReference:
    """The image an oci:// location names, with the manifest's tag or digest if it has none."""
    assert location.reference is not None
    return tagged_like(location.reference, ref)


def run_g2(
    engine: Engine,
    registries: Callable[[], Registries],
    spec: G2Spec,
    variables: dict[str, Any],
    where: str,
) -> list[ImageResult]:
    refs = spec.manifests
    if refs is None:  # every image of the source store
        source = _render(spec.src, None, variables, f"{where}: src")
        if source.is_registry:
            raise TaskError(
                f"{where}: manifests: required with an oci:// src (a registry is not listed)"
            )
        images = selected_images(Store(source.path or "."), spec.pattern, None, engine.warn)
        refs = [image.reference for image in images]
    if not refs:
        engine.warn(f"{where}: skip, no image left to transfer")
        return []
    registry: RegistryTransport | None = None
    stores: dict[tuple[str, str], StoreTransport] = {}

    def transport(location: Location, layout: str) -> Transport:
        nonlocal registry
        if location.is_registry:
            registry = registry or RegistryTransport(registries())
            return registry
        key = (str(location.path), layout)
        return stores.setdefault(key, StoreTransport(Store(location.path or ".", layout)))

    runs: dict[tuple[int, str], tuple[Run, list[Transfer]]] = {}
    claimed: dict[tuple[str, str], ImageReference] = {}  # destination -> the image sent there
    for ref in refs:  # every location rendered before anything moves
        src = _render(spec.src, ref, variables, f"{where}: src of {ref}")
        dest = _render(spec.dest, ref, variables, f"{where}: dest of {ref}")
        source_ref = _as_named(src, ref) if src.is_registry else ref
        dest_ref = _as_named(dest, source_ref) if dest.is_registry else ref  # as listed
        other = claimed.setdefault((str(dest.path), str(dest_ref)), source_ref)
        if str(other) != str(source_ref):
            raise TaskError(
                f"{where}: {other} and {source_ref} would both be written to {dest_ref}; "
                "make dest tell them apart (e.g. with .module.image.reference.repository)"
            )
        source = transport(src, "L1")
        operation = _OPERATIONS[(src.is_registry, dest.is_registry)]
        selection = Selection(spec.platform, spec.policy)
        _, items = runs.setdefault(
            (id(source), operation), (Run(engine, source, operation, selection), [])
        )
        items.append(Transfer(source_ref, dest_ref, transport(dest, "L2")))
    return [result for run, items in runs.values() for result in run.transfer(items)]
