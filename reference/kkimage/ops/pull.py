"""pull: registry -> local store."""

from __future__ import annotations

from concurrent.futures import Future

from ..errors import DigestMismatch, StoreError
from ..manifest import Manifest
from ..reference import ImageReference
from ..registry import Registries, Registry
from ..store import Store
from ..task import PullSpec
from .engine import BlobOutcome, Engine, ImageResult
from .plan import finish_into_store, plan_image, skipped


def fetch_blob(
    engine: Engine,
    registry: Registry,
    repository: str,
    store: Store,
    blob: dict,
    known: bytes | None = None,
) -> BlobOutcome:
    """Into the store unless present; verified, retried once from scratch on a bad digest.
    `known`: the blob's verified bytes, already fetched (an image config)."""
    digest, size = blob["digest"], blob["size"]
    if store.has_blob(digest, size):
        return BlobOutcome(skipped=size)
    if known is not None:
        with store.blob_writer(digest, size) as writer:
            writer.write(known)
            writer.commit()
        return BlobOutcome(transferred=size)
    engine.progress.expect(size)
    for attempt in (1, 2):
        with store.blob_writer(digest, size) as writer:
            registry.fetch_blob(repository, digest, writer, engine.progress.advance)
            try:
                writer.commit()
            except DigestMismatch:
                engine.progress.advance(-writer.written)
                if attempt == 2:
                    raise
                continue
        return BlobOutcome(transferred=size)
    raise AssertionError("unreachable")


def _pull_image(
    engine: Engine, registries: Registries, store: Store, spec: PullSpec, ref: ImageReference
) -> ImageResult:
    registry = registries.for_reference(ref)
    repository = ref.repository
    root = registry.get_manifest(repository, ref.reference)
    result = ImageResult("pull", str(ref), str(store.root), source_digest=root.digest)

    def get_manifest(digest: str) -> Manifest:
        try:
            return store.read_manifest(ref, digest)  # verified against its digest
        except StoreError:  # not in the store (or unreadable): from the registry
            return registry.get_manifest(repository, digest)

    def get_manifests(digests: list[str]) -> list[Manifest]:
        """Children at once: their blobs can start sooner."""
        futures = [engine.once(("manifest", ref.name, d), lambda d=d: get_manifest(d))[0]
                   for d in digests]  # fmt: skip
        return [future.result() for future in futures]

    started: dict[str, tuple[Future[BlobOutcome], bool]] = {}
    configs: dict[str, bytes] = {}  # fetched to decide on the platform, stored if kept

    def blob(descriptor: dict) -> tuple[Future[BlobOutcome], bool]:
        """This image's transfer of a blob (shared with other images that need it too)."""
        digest = descriptor["digest"]
        if digest not in started:
            known = configs.get(digest)
            started[digest] = engine.once(
                ("pull", store.root, digest),
                lambda: fetch_blob(engine, registry, repository, store, descriptor, known),
            )
        return started[digest]

    def get_config(descriptor: dict) -> bytes:
        """Read, not stored: an image the filter refuses leaves nothing behind."""
        digest = descriptor["digest"]
        stored = store.read_blob(digest, descriptor["size"])
        if stored is not None:
            return stored
        configs[digest] = registry.read_blob(repository, digest)
        return configs[digest]

    plan = plan_image(ref, root, get_manifests, get_config, spec.platform, spec.policy, engine.warn)
    if plan.skipped:
        return skipped(engine, plan, result)
    for future, owned in [blob(descriptor) for descriptor in plan.blobs]:
        result.add(future.result(), owned)
    return finish_into_store(engine, store, plan, result)


def pull(engine: Engine, registries: Registries, spec: PullSpec) -> list[ImageResult]:
    store = Store(spec.images_dir)
    return engine.for_each(
        spec.manifests,
        lambda ref: _pull_image(engine, registries, store, spec, ref),
        label=lambda ref: f"pull {ref}",
    )
