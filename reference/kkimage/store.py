"""The local image store: the only code that turns names into paths.

Layout written (L1, KubeKey v4.0.0-v4.0.3):

    <root>/blobs/sha256:<hex>                                  configs and layers, shared
    <root>/<registry>/<repository>/manifests/<tag>             root manifest, exact bytes
    <root>/<registry>/<repository>/manifests/sha256:<hex>      children; roots pulled by digest

Layout L2 (KubeKey >= v4.0.4), written when asked (`Store(root, layout="L2")`): no tag files;
every manifest is `manifests/sha256:<hex>` and `manifests/layout` maps tags to digests (JSON,
sorted keys, 2-space indent, no trailing newline: byte for byte as KubeKey writes it), and
Docker Hub content goes under `registry-1.docker.io/`, the only name KubeKey >= v4.0.4 reads.

Both layouts are read, and Docker Hub content under any of its names. Every file is written
to a temporary name in its final directory and renamed only once complete, verified (for
content-addressed files) and on disk, so an interrupted run leaves at most temporary files,
which the next writer sweeps away. Blobs are written around the page cache (uncached.py).
A big blob is fsynced and renamed on its own; small ones are named together, after one
syncfs(2), before the next manifest is written (an fsync each would cost each a journal
commit: docs/performance.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from . import partial
from .blobs import VerifiedReader
from .errors import Cancelled, KkImageError, StoreError
from .manifest import Manifest, check_digest, looks_like_manifest, sha256_digest
from .reference import DIGEST, DOCKER_HUB, DOCKER_HUB_API, ImageReference, normalize_registry
from .uncached import UncachedFile

BLOBS = "blobs"
MANIFESTS = "manifests"
LAYOUT_FILE = "layout"  # L2: {tag: digest}
LAYOUTS = ("L1", "L2")
_TEMP_PREFIX = ".kkimage-partial-"
# Blobs below this are named in groups: one lost to an interrupt before its group is named
# costs little to fetch again.
SMALL_BLOB = 4 << 20
_HUB_DIRS = ("docker.io", "registry-1.docker.io", "index.docker.io")


class StoredImage(NamedTuple):
    """An image found in a store: its reference (tag or digest) and its root manifest."""

    reference: ImageReference
    manifest: Manifest


def _check_component(component: str, what: str) -> None:
    if (
        not component
        or component in (".", "..")
        or "/" in component
        or "\\" in component
        or "\0" in component
    ):
        raise StoreError(f"refusing {what} {component!r}: it would leave the store")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _disk_errors(directory: Path) -> Iterator[None]:
    """A full or read-only disk is a store error, not a network failure to retry."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"cannot write to {directory}: {exc.strerror or exc}") from None


# What a file is to hold: what `write`s it, or a blob, read into it only once it verifies.
Content = Callable[[BinaryIO], None] | VerifiedReader


def _written_beside(final: Path, content: Content, durable: bool) -> Path:
    """A new temporary file beside `final` holding `content` (a blob: around the page cache),
    fsynced if `durable`, tracked until it is renamed; a failure (a full disk: StoreError)
    leaves nothing."""
    temp = final.parent / f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    partial.track(temp)
    try:
        with _disk_errors(final.parent):
            final.parent.mkdir(parents=True, exist_ok=True)
            blob = isinstance(content, VerifiedReader)
            with UncachedFile(temp) if blob else open(temp, "xb") as handle:
                if blob:
                    handle.write_from(content.readinto)  # ends verified, or raises
                else:
                    content(handle)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
    except BaseException:
        partial.discard(temp)
        raise
    return temp


def write_atomically(final: Path, content: Content) -> None:
    """`content` into a temporary file beside `final`, fsynced, then renamed to `final`: a
    reader sees the whole file or none; a failure (a full disk: StoreError) leaves nothing."""
    temp = _written_beside(final, content, durable=True)
    try:
        with _disk_errors(final.parent):
            os.replace(temp, final)
    finally:
        partial.discard(temp)  # gone once renamed: only forgotten


@functools.cache
def _syncfs() -> Callable[[int], None] | None:
    """libc's syncfs(2) where there is one (Linux), raising OSError; loaded by the first
    group named."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "syncfs"):
        return None

    def syncfs(fd: int) -> None:
        if libc.syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    return syncfs


def _sync_files(directory: Path, files: list[Path]) -> None:
    """`files` (all in `directory`) on disk: one syncfs for their file system, else an
    fsync each."""
    syncfs = _syncfs()
    for path in [directory] if syncfs else files:
        fd = os.open(path, os.O_RDONLY)
        try:
            (syncfs or os.fsync)(fd)
        finally:
            os.close(fd)


class _UnnamedBlobs:
    """Small verified blobs written to temporary files, waiting to be named as a group."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: list[tuple[Path, Path]] = []  # (temporary, final)
        self._lock = threading.Lock()
        # One group at a time: once name_all() returns, every blob added before it is named.
        self._naming = threading.Lock()

    def add(self, temp: Path, final: Path) -> None:
        with self._lock:
            self._files.append((temp, final))

    def name_all(self) -> None:
        with self._naming:
            with self._lock:
                files, self._files = self._files, []
            if not files:
                return
            named = 0
            try:
                with _disk_errors(self.directory):
                    _sync_files(self.directory, [temp for temp, _ in files])
                    for temp, final in files:
                        try:
                            os.replace(temp, final)
                        except FileNotFoundError:
                            raise Cancelled() from None  # an interrupt removed it
                        partial.forget(temp)
                        named += 1
            finally:
                for temp, _ in files[named:]:  # after an error, none of the rest is kept
                    partial.discard(temp)


class Store:
    def __init__(self, root: str | os.PathLike[str], layout: str = "L1") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}")
        self.root = Path(root)
        self.layout = layout
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._layout_lock = threading.Lock()
        self._unnamed = _UnnamedBlobs(self.root / BLOBS)

    # ---- paths -------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        if not DIGEST.fullmatch(digest):
            raise StoreError(f"refusing blob name {digest!r}: not a sha256 digest")
        return self.root / BLOBS / digest

    def _repository_dir(self, registry: str, repository: str) -> Path:
        _check_component(registry, "registry")
        for component in repository.split("/"):
            _check_component(component, "repository component")
        return self.root / registry / repository

    def manifest_path(self, ref: ImageReference, name: str) -> Path:
        """Where a manifest is written."""
        _check_component(name, "manifest name")
        if name.startswith(".") or name == LAYOUT_FILE:
            raise StoreError(f"refusing manifest name {name!r}: reserved in the store")
        registry = ref.registry
        if self.layout == "L2" and normalize_registry(registry) == DOCKER_HUB:
            registry = DOCKER_HUB_API  # where KubeKey >= v4.0.4 looks
        return self._repository_dir(registry, ref.repository) / MANIFESTS / name

    def _readable_dirs(self, ref: ImageReference, written: Path) -> list[Path]:
        """Where a repository's manifests may be read from, besides where they are `written`:
        Docker Hub content may sit under any of its names (KubeKey writes
        registry-1.docker.io)."""
        if normalize_registry(ref.registry) != DOCKER_HUB:
            return [written]
        return [self.root / alias / ref.repository / MANIFESTS for alias in _HUB_DIRS]

    def _find_manifest(self, ref: ImageReference, name: str) -> Path | None:
        """The file holding manifest `name` (tag or digest): L1 file, L2 layout entry, or
        (for a digest) an L1 tag file with that content."""
        written = self.manifest_path(ref, name).parent  # validates the names too
        directories = self._readable_dirs(ref, written)
        for directory in directories:
            if (directory / name).is_file():
                return directory / name
        for directory in directories:
            if name.startswith("sha256:"):
                found = self._tag_file_with_digest(directory, name)
            else:
                digest = self._layout(directory).get(name)
                found = directory / digest if digest else None
            if found is not None and found.is_file():
                return found
        return None

    # ---- writing -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the store and sweep temporary files left by dead writers. Called by the
        first write, so that a run that fails before writing leaves no empty store behind."""
        with self._prepare_lock:
            if not self._prepared:
                self._prepare()
                self._prepared = True

    def _prepare(self) -> None:
        try:
            (self.root / BLOBS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store {self.root}: {exc.strerror}") from None
        for directory, _, files in os.walk(self.root):
            for name in files:
                if not name.startswith(_TEMP_PREFIX):
                    continue
                pid = name[len(_TEMP_PREFIX) :].split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(directory, name))

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        """Present with the expected size; its name is its digest because only verified
        content is ever renamed into place."""
        try:
            actual = self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return False
        return size is None or actual == size

    def put_blob(self, reader: VerifiedReader) -> None:
        """Store the blob `reader` streams, under its digest, once it has ended verified:
        written to a temporary file in blobs/, then on disk and renamed (a small one with
        others, by `name_blobs`); anything else leaves nothing behind."""
        final = self.blob_path(reader.digest)
        self.prepare()
        if reader.size >= SMALL_BLOB:
            write_atomically(final, reader)
        else:
            self._unnamed.add(_written_beside(final, reader, durable=False), final)

    def name_blobs(self) -> None:
        """Every small blob written so far on disk (one syncfs) and under its name."""
        self._unnamed.name_all()

    def write_manifest(self, ref: ImageReference, name: str, manifest: Manifest) -> None:
        """Write manifest bytes under `name` (a tag or the manifest's own digest); in L2 a
        tag names the manifest's digest in `manifests/layout`."""
        if self.layout == "L2" and not name.startswith("sha256:"):
            self._write_file(self.manifest_path(ref, manifest.digest), manifest.raw)
            self._tag(ref, name, manifest.digest)
            return
        if name.startswith("sha256:"):
            check_digest(f"manifest {ref.name}@{name}", manifest.raw, name)
        self._write_file(self.manifest_path(ref, name), manifest.raw)

    def _tag(self, ref: ImageReference, tag: str, digest: str) -> None:
        """`tag` -> `digest` in the layout file, read, changed and renamed into place under a
        lock that other processes writing the store respect too (flock on the directory)."""
        directory = self.manifest_path(ref, tag).parent
        with self._layout_lock, _disk_errors(directory):
            handle = os.open(directory, os.O_RDONLY)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                tags = self._layout(directory)
                tags[tag] = digest
                data = json.dumps(tags, indent=2, sort_keys=True).encode()
                self._write_file(directory / LAYOUT_FILE, data)
            finally:
                os.close(handle)  # and with it the lock

    def _write_file(self, path: Path, data: bytes) -> None:
        """A manifest or layout file: written after every blob written before it is named."""
        self.prepare()
        self.name_blobs()
        write_atomically(path, lambda handle: handle.write(data))

    def has_manifest(self, ref: ImageReference, digest: str) -> bool:
        return self._find_manifest(ref, digest) is not None

    # ---- reading -----------------------------------------------------------------------------

    def read_blob(self, descriptor: dict) -> bytes | None:
        """A small blob's bytes (an image config), verified, or None if the store lacks it."""
        if not self.has_blob(descriptor["digest"], descriptor["size"]):
            return None
        with self.open_blob(descriptor) as reader:
            return reader.read_all()

    def open_blob(self, descriptor: dict, progress=None) -> VerifiedReader:
        """The blob as a verified stream: a damaged store is refused, never propagated."""
        digest = descriptor["digest"]
        try:
            handle = open(self.blob_path(digest), "rb")  # noqa: SIM115 - the reader closes it
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from store {self.root}") from None
        what = f"blob {digest} in store {self.root}"
        return VerifiedReader(handle, digest, descriptor["size"], what, progress)

    def read_manifest(self, ref: ImageReference, name: str) -> Manifest:
        """The manifest stored under `name` (tag or digest), L1 file or L2 layout entry."""
        what = f"{ref.name}:{name}" if not name.startswith("sha256:") else f"{ref.name}@{name}"
        path = self._find_manifest(ref, name)
        if path is None:
            raise StoreError(f"{what} is not in store {self.root}")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {what} from store {self.root}: {exc.strerror}") from None
        if name.startswith("sha256:"):
            check_digest(f"manifest {what}", raw, name)
        return Manifest.parse(raw, what=f"manifest {what}")

    def resolve(self, ref: ImageReference) -> Manifest:
        """The root manifest of a reference; a tag@digest reference must match its digest."""
        manifest = self.read_manifest(ref, ref.store_name)
        if ref.tag and ref.digest and manifest.digest != ref.digest:
            raise StoreError(
                f"{ref}: the store holds {manifest.digest} under tag {ref.tag}, not {ref.digest}"
            )
        return manifest

    @staticmethod
    def _tag_file_with_digest(manifests_dir: Path, digest: str) -> Path | None:
        """L1 keeps a root pulled by tag only under its tag: find it by its content."""
        if not manifests_dir.is_dir():
            return None
        for path in sorted(manifests_dir.iterdir()):
            if path.name.startswith((".", "sha256:")) or path.name == LAYOUT_FILE:
                continue
            with contextlib.suppress(OSError):
                if path.is_file() and sha256_digest(path.read_bytes()) == digest:
                    return path
        return None

    def _layout(self, manifests_dir: Path) -> dict[str, str]:
        try:
            content = json.loads((manifests_dir / LAYOUT_FILE).read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"unreadable {manifests_dir / LAYOUT_FILE}: {exc}") from None
        if not isinstance(content, dict):
            raise StoreError(f"unreadable {manifests_dir / LAYOUT_FILE}: not a JSON object")
        return {
            tag: digest
            for tag, digest in content.items()
            if isinstance(digest, str) and DIGEST.fullmatch(digest)
        }

    def images(self, problems: list[str] | None = None) -> list[StoredImage]:
        """Every image in the store, sorted: tags (L1 files and L2 layout entries), then roots
        pulled by digest (manifests no other manifest of their repository refers to).

        Files in manifests/ that are not intact manifests are left out, and described in
        `problems` if given.
        """
        problems = [] if problems is None else problems
        if not self.root.is_dir():
            raise StoreError(f"store {self.root} does not exist")
        found: dict[str, StoredImage] = {}
        for manifests_dir in sorted(self._manifest_dirs()):
            relative = manifests_dir.parent.relative_to(self.root).parts
            registry = normalize_registry(relative[0])
            base = ImageReference(registry, "/".join(relative[1:]))
            by_digest: dict[str, Manifest] = {}
            tagged: dict[str, Manifest] = {}
            names = {p.name for p in manifests_dir.iterdir() if p.is_file()}
            tags = {n: n for n in names if not n.startswith((".", "sha256:")) and n != LAYOUT_FILE}
            for tag, digest in self._layout(manifests_dir).items():
                tags.setdefault(tag, digest)
            for name in sorted(names):
                if name.startswith("sha256:") and DIGEST.fullmatch(name):
                    manifest = self._try_manifest(manifests_dir / name, problems)
                    if manifest:
                        by_digest[name] = manifest
            for tag, file_name in sorted(tags.items()):
                manifest = by_digest.get(file_name) or self._try_manifest(
                    manifests_dir / file_name, problems
                )
                if manifest:
                    tagged[tag] = manifest
            referenced = {
                child["digest"]
                for manifest in [*by_digest.values(), *tagged.values()]
                for child in manifest.children
            } | {m.digest for m in tagged.values()}
            for tag, manifest in tagged.items():
                ref = base.with_tag(tag)
                found.setdefault(str(ref), StoredImage(ref, manifest))
            for digest, manifest in by_digest.items():
                if digest not in referenced:
                    ref = base.with_digest(digest)
                    found.setdefault(str(ref), StoredImage(ref, manifest))
        return [found[key] for key in sorted(found)]

    def _manifest_dirs(self) -> Iterator[Path]:
        for directory, subdirs, _ in os.walk(self.root):
            path = Path(directory)
            if path == self.root:
                subdirs[:] = [d for d in subdirs if d != BLOBS and not d.startswith(".")]
            if path.name == MANIFESTS and len(path.relative_to(self.root).parts) >= 3:
                yield path

    def _try_manifest(self, path: Path, problems: list[str]) -> Manifest | None:
        """The manifest in `path`, or None (and a line in `problems`) if it is not one."""
        where = path.relative_to(self.root)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(f"{where}: unreadable ({exc.strerror})")
            return None
        if DIGEST.fullmatch(path.name) and (actual := sha256_digest(raw)) != path.name:
            problems.append(f"{where}: content hashes to {actual}")
            return None
        try:
            content = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            problems.append(f"{where}: not JSON, so not a manifest")
            return None
        if not looks_like_manifest(content):
            problems.append(f"{where}: not an image manifest or index")
            return None
        try:
            return Manifest.from_content(raw, content, what=f"manifest {where}")
        except KkImageError as exc:
            problems.append(str(exc))
            return None
