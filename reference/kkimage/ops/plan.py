"""What to transfer for one image: the root to write, its child manifests and blobs.

Shared by pull, push and copy; the source of manifests and configs is passed in as functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

from ..errors import KkImageError, ManifestError, PlatformError
from ..manifest import Manifest
from ..platform import Platform, PlatformFilter, spelling, spellings
from ..reference import ImageReference
from ..store import Store, StoredImage
from .engine import Engine, ImageResult

MAX_DEPTH = 4  # nested indexes
T = TypeVar("T")

GetManifests = Callable[[list[str]], list[Manifest]]  # digests -> verified manifests, in order
GetConfig = Callable[[dict], bytes]  # config descriptor -> verified bytes


class ImagePlan:
    """What one image's transfer will move, as planning finds it."""

    def __init__(self, source: ImageReference, source_digest: str, root: Manifest) -> None:
        self.source, self.source_digest = source, source_digest
        self.root = root  # as it will be written: the source's bytes, or a filtered index
        self.children: list[Manifest] = []  # deepest first
        self.blobs: list[dict] = []  # unique by digest
        self.platforms: list[str] = []
        self.skipped: str | None = None  # warn policy: why nothing is transferred


def config_platform(raw: bytes) -> dict | None:
    """The parsed image config, for its os/architecture/variant; None if it is not JSON."""
    try:
        content = json.loads(raw)
    except ValueError:
        return None
    return content if isinstance(content, dict) else None


def plan_image(
    source: ImageReference,
    root: Manifest,
    *,
    get_manifests: GetManifests,
    get_config: GetConfig,
    platforms: PlatformFilter | None,
    policy: str,
    warn: Callable[[str], None],
) -> ImagePlan:
    """What `root` (of `source`) becomes through the platform filter, and what it needs:
    children from `get_manifests`, single images' platforms from `get_config`."""
    plan = ImagePlan(source, root.digest, root)

    def mismatch(message: str) -> None:
        """strict: an error (whose context names the image); warn: a warning that does."""
        if policy == "strict":
            raise PlatformError(message)
        warn(f"{source}: {message}")

    if root.is_index:
        children = root.children
        if platforms is not None:
            selection = platforms.select(children)
            if selection.missing:
                available = sorted(set(spellings(children)))
                mismatch(
                    f"no {', '.join(map(str, selection.missing))} in the image "
                    f"(it has {', '.join(available) or 'no platforms'})"
                )
            if not selection.kept:
                plan.skipped = f"nothing matches platform {platforms}"
                return plan
            if selection.kept != children:
                plan.root = root.filtered(selection.kept)
            children = selection.kept
        plan.platforms = spellings(children)
        _collect(plan, children, get_manifests, depth=1)
        return plan
    # A single image manifest: its platform is in its config.
    if platforms is not None:
        config = config_platform(get_config(root.config or {}))
        if not platforms.accepts(Platform.of(config)):
            mismatch(f"the image is {spelling(config) or 'of unknown platform'}, not {platforms}")
            plan.skipped = f"nothing matches platform {platforms}"
            return plan
        plan.platforms = [spelling(config) or ""]
    _add_blobs(plan, root)
    return plan


def _collect(plan: ImagePlan, descriptors: list[dict], get: GetManifests, depth: int) -> None:
    """Add the manifests `descriptors` name (all fetched at once) and what they list."""
    if depth > MAX_DEPTH:
        raise ManifestError(f"{plan.source}: indexes nested more than {MAX_DEPTH} deep")
    seen = {m.digest for m in plan.children}
    wanted = list(dict.fromkeys(d["digest"] for d in descriptors if d["digest"] not in seen))
    for child in get(wanted):
        if child.is_index:
            _collect(plan, child.children, get, depth + 1)
        else:
            _add_blobs(plan, child)
        plan.children.append(child)


def _add_blobs(plan: ImagePlan, manifest: Manifest) -> None:
    known = {b["digest"] for b in plan.blobs}
    for blob in manifest.blobs:
        if blob["digest"] not in known:
            plan.blobs.append(blob)
            known.add(blob["digest"])


def stored_platforms(read_config: Callable[[dict], bytes | None], manifest: Manifest) -> list[str]:
    """The platform of a single image manifest, read from its config by `read_config`."""
    config = manifest.config
    raw = read_config(config) if config else None
    if raw is None:
        return []
    found = spelling(config_platform(raw))
    return [found] if found else []


def selected_images(
    store: Store,
    pattern: re.Pattern[str] | None,
    manifests: list[ImageReference] | None,
    warn: Callable[[str], None],
) -> list[StoredImage]:
    """The listed images (default: all) whose `registry/repository:tag` (or `@digest`)
    `pattern` finds somewhere (an unanchored search, as KubeKey does)."""
    if manifests is None:
        problems: list[str] = []
        images = store.images(problems)
        for problem in problems:
            warn(f"skipped in {store.root}: {problem}")
    else:
        images = [StoredImage(ref, store.resolve(ref)) for ref in manifests]
    return [i for i in images if pattern is None or pattern.search(str(i.reference))]


def with_destinations(
    images: list[StoredImage], render: Callable[[ImageReference], T], operation: str
) -> list[tuple[StoredImage, T]]:
    """Each image with its rendered destination, all rendered before anything moves so that
    a template error stops the run early; the error names the image."""
    pairs = []
    for image in images:
        try:
            pairs.append((image, render(image.reference)))
        except KkImageError as exc:
            exc.add_context(f"{operation} {image.reference}")
            raise
    return pairs


def skipped(engine: Engine, plan: ImagePlan, result: ImageResult) -> ImageResult:
    engine.warn(f"{plan.source}: skipped, {plan.skipped}")
    result.status, result.message = "skipped", plan.skipped
    return result
