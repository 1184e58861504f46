"""The one copy algorithm: an image from any transport to any other.

Per image: resolve the root, filter its platforms, collect the children (fetched at once),
then the blobs (each skipped if the target has it, mounted where the target can, else
streamed and verified; shared blobs once per run), then the manifests, children first and
the root last, so that an image is complete once it has a name. pull, push, copy and
mirror are this algorithm between different transports.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import NamedTuple

from ..blobs import VerifiedReader
from ..errors import Cancelled, DigestMismatch, KkImageError
from ..manifest import Manifest
from ..platform import PlatformFilter
from ..pool import Future
from ..reference import ImageReference
from ..transports import BlobOutcome, Transport
from .engine import Engine, Failed, ImageResult
from .plan import ImagePlan, plan_image, skipped, stored_platforms

NOT_FINISHED = "not finished: the run stopped at the first failure (--keep-going goes on)"


class Transfer(NamedTuple):
    """One image to move: as the source names it, as the target will, and where to."""

    source: ImageReference
    destination: ImageReference
    target: Transport
    root: Manifest | None = None  # the source's root when already read (store discovery)


class Selection(NamedTuple):
    platform: PlatformFilter | None = None
    policy: str = "strict"


class _FirstTransfers:
    """The first transfer of each blob to each host in this run, and its repository: later
    images for other repositories of that host wait for it and then mount."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[str, Future[BlobOutcome]]] = {}
        self._lock = threading.Lock()

    def get_or_start(
        self,
        host: str,
        digest: str,
        repository: str,
        start: Callable[[], tuple[Future[BlobOutcome], bool]],
    ) -> tuple[str, Future[BlobOutcome], bool]:
        """The repository that has (or gets) the blob first, its transfer, and whether this
        call started it."""
        with self._lock:
            if (host, digest) in self._first:
                owner, future = self._first[(host, digest)]
                return owner, future, False
            future, owned = start()
            self._first[(host, digest)] = (repository, future)
            return repository, future, owned


class Run:
    """One use of the algorithm: a source, and what is shared by its images."""

    def __init__(
        self,
        engine: Engine,
        source: Transport,
        operation: str,  # pull | push | copy | mirror, for messages and summaries
        selection: Selection | None = None,
    ) -> None:
        self.engine, self.source, self.selection = engine, source, selection or Selection()
        self.operation = operation
        self._firsts = _FirstTransfers()

    def transfer(self, items: list[Transfer]) -> list[ImageResult]:
        """Every item's result; a failed or cancelled image's says so, with its error."""
        outcomes = self.engine.for_each(
            items, self._image, label=lambda item: f"{self.operation} {item.source}"
        )
        for target in {id(item.target): item.target for item in items}.values():
            target.settle()
        results = []
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, ImageResult):
                results.append(outcome)
                continue
            result = ImageResult(
                self.operation,
                self.source.describe(item.source),
                item.target.describe(item.destination),
                status="cancelled" if isinstance(outcome, Cancelled) else "failed",
                error=str(outcome) if isinstance(outcome, Failed) else NOT_FINISHED,
            )
            results.append(result)
        return results

    # ---- one image ---------------------------------------------------------------------------

    def _image(self, item: Transfer) -> ImageResult:
        source, target, src, dst = self.source, item.target, item.source, item.destination
        root = item.root or source.resolve(src)
        result = ImageResult(
            self.operation,
            source.describe(src),
            target.describe(dst),
            source_digest=root.digest,
        )
        if dst.digest and dst.digest != root.digest:
            raise KkImageError(
                f"{src}: destination {dst} names a digest other than the image's {root.digest}"
            )
        configs: dict[str, bytes] = {}  # read to decide on the platform, written if kept
        plan = self._plan(item, root, configs)
        if plan.skipped:
            return skipped(self.engine, plan, result)
        source.ensure_blobs(src, plan.blobs)
        check = target.begin_image(dst, plan.root, plan.blobs)
        for future, owned in self._blobs(item, plan, check, configs):
            result.add(future.result(), owned)
        stored = self._manifests(item, plan, check)
        result.destination = target.describe(stored)
        result.destination_digest = plan.root.digest
        result.platforms = plan.platforms or self._platforms(item, plan.root)
        self.engine.progress.image_done(str(src))
        return result

    def _plan(self, item: Transfer, root: Manifest, configs: dict[str, bytes]) -> ImagePlan:
        source, target, src, dst = self.source, item.target, item.source, item.destination

        def manifest(digest: str) -> Manifest:
            return target.stored_manifest(dst, digest) or source.manifest(src, digest)

        def manifests(digests: list[str]) -> list[Manifest]:
            """Children at once: their blobs can start sooner."""
            futures = [
                self.engine.once(("manifest", id(source), src.name, d), lambda d=d: manifest(d))[0]
                for d in digests
            ]
            return [future.result() for future in futures]

        def config(descriptor: dict) -> bytes:
            """Read, not stored: an image the filter refuses leaves nothing behind."""
            stored = target.stored_config(dst, descriptor)
            if stored is not None:
                return stored
            configs[descriptor["digest"]] = source.config(src, descriptor)
            return configs[descriptor["digest"]]

        return plan_image(
            src,
            root,
            get_manifests=manifests,
            get_config=config,
            platforms=self.selection.platform,
            policy=self.selection.policy,
            warn=self.engine.warn,
        )

    def _blobs(
        self, item: Transfer, plan: ImagePlan, check: bool, configs: dict[str, bytes]
    ) -> list[tuple[Future[BlobOutcome], bool]]:
        target, dst = item.target, item.destination
        engine = self.engine

        def submit(blob: dict, mount: str | None) -> tuple[Future[BlobOutcome], bool]:
            return engine.once(
                target.blob_key(dst, blob["digest"]),
                lambda: self._blob(item, blob, check, mount, configs.get(blob["digest"])),
            )

        host = target.host_of(dst) if target.can_mount else ""
        if host and host == self.source.host_of(item.source) != "":
            # Within one registry: every blob is in the source repository already.
            origin = item.source.repository if item.source.repository != dst.repository else None
            return [submit(blob, origin) for blob in plan.blobs]
        mine, later = [], []
        for blob in plan.blobs:
            if not host:
                mine.append(submit(blob, None))
                continue
            owner, first, owned = self._firsts.get_or_start(
                host, blob["digest"], dst.repository, lambda b=blob: submit(b, None)
            )
            if owner == dst.repository:
                mine.append((first, owned))
            else:
                later.append((blob, owner, first))
        for blob, owner, first in later:
            first.result()  # the blob is in `owner` now: mount it from there
            mine.append(submit(blob, owner))
        return mine

    def _blob(
        self, item: Transfer, blob: dict, check: bool, mount: str | None, known: bytes | None
    ) -> BlobOutcome:
        """One blob into the target, unless there; one fresh try after content that does
        not verify (R-XFER-1). `known`: its bytes, read already (a config)."""
        target, dst, size = item.target, item.destination, blob["size"]
        if check and target.has_blob(dst, blob):
            return BlobOutcome(skipped=size)
        progress = self.engine.progress
        progress.expect(size)
        opened: list[VerifiedReader] = []

        def open_source() -> VerifiedReader:
            if known is not None:
                what = f"blob {item.source.name}@{blob['digest']}"
                reader = VerifiedReader(
                    io.BytesIO(known), blob["digest"], size, what, progress.advance
                )
            else:
                reader = self.source.open_blob(item.source, blob, progress.advance)
            if target.checks_digests:
                reader.leave_digest_to_target()
            opened.append(reader)
            return reader

        for attempt in (1, 2):
            try:
                return target.put_blob(dst, blob, open_source, mount)
            except DigestMismatch:
                progress.advance(-sum(reader.read_bytes for reader in opened))
                opened.clear()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _manifests(self, item: Transfer, plan: ImagePlan, check: bool) -> ImageReference:
        """Image manifests at once, then indexes in order (each after what it lists), the
        root last, under the destination's tag or its own digest."""
        target, dst = item.target, item.destination

        def put(manifest: Manifest, name: str) -> None:
            target.put_manifest(dst, name, manifest, check)

        images = [c for c in plan.children if not c.is_index]
        futures = [
            self.engine.once(("put", target.blob_key(dst, c.digest)), lambda c=c: put(c, c.digest))[
                0
            ]
            for c in images
        ]
        for future in futures:
            future.result()
        for index in (c for c in plan.children if c.is_index):
            put(index, index.digest)
        stored = dst.with_tag(dst.tag) if dst.tag else dst.with_digest(plan.root.digest)
        if stored.digest and stored.digest != plan.source_digest:
            self.engine.warn(
                f"{item.source}: the platform filter changed the index, stored as {stored}"
            )
        target.put_root(stored, plan.root, check)
        return stored

    def _platforms(self, item: Transfer, root: Manifest) -> list[str]:
        """A single image's platform, from its config (where it is at hand)."""

        def config(descriptor: dict) -> bytes | None:
            stored = item.target.stored_config(item.destination, descriptor)
            return stored if stored is not None else self.source.config(item.source, descriptor)

        return stored_platforms(config, root)
