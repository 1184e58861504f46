"""OCI image layouts (a directory, or a tar of one) and Docker archives as transports.

    oci-layout://DIR          oci-layout, index.json, blobs/sha256/<hex>
    oci-archive://FILE.tar    the same, as a tar (what `skopeo copy oci-archive:` reads)
    docker-archive://FILE.tar the same plus manifest.json, what `docker load` reads (one
                              platform per image); read back through its index.json, so
                              digests survive, or, for archives `docker save` wrote, through
                              manifest.json alone

Names: each image's index.json entry carries its full reference both as
`io.containerd.image.name` (what `ctr images import` and docker read) and as
`org.opencontainers.image.ref.name` (what skopeo looks up: `oci-archive:FILE:NAME`); a Docker
archive lists it in `RepoTags`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Hashable

from ..blobs import BlobOpener, VerifiedReader
from ..errors import KkImageError, ManifestError, StoreError
from ..manifest import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_INDEX,
    Manifest,
    check_digest,
)
from ..reference import DIGEST, ImageReference, parse_reference
from ..store import StoredImage
from .base import BlobOutcome, Progress, Transport
from .files import Files

CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIGS = (DOCKER_CONFIG, "application/vnd.oci.image.config.v1+json")
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
GZIP_MAGIC = b"\x1f\x8b"


def blob_name(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise StoreError(f"refusing blob name {digest!r}: not a sha256 digest")
    return "blobs/sha256/" + digest.removeprefix("sha256:")


class OciTransport(Transport):
    def __init__(self, files: Files, format: str) -> None:
        self.files = files
        self.format = format  # oci-layout | oci-archive | docker-archive, for messages
        self._roots: dict[str, Manifest] = {}  # written: full name -> root
        self._written: dict[str, Manifest] = {}  # manifests, by digest
        self._lock = threading.Lock()
        self._blob_names: dict[str, str] = {}  # read: digest -> member name
        self._synthesized: dict[str, Manifest] = {}

    @property
    def docker(self) -> bool:
        return self.format == "docker-archive"

    # ---- reading -----------------------------------------------------------------------------

    def _index(self) -> list[dict]:
        try:
            content = json.loads(self.files.read("index.json"))
        except ValueError as exc:
            raise StoreError(f"{self.files.path}: index.json is not JSON: {exc}") from None
        entries = content.get("manifests") if isinstance(content, dict) else None
        if not isinstance(entries, list):
            raise StoreError(f"{self.files.path}: index.json lists no manifests")
        return entries

    def images(self) -> list[StoredImage]:
        """Every named image: index.json's entries, or (a `docker save` archive without
        one) manifest.json's."""
        if not self.files.exists("index.json") and self.docker:
            return self._docker_images()
        found = []
        for entry in self._index():
            annotations = entry.get("annotations") or {}
            name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME)
            try:
                ref = parse_reference(name)
            except KkImageError:
                raise StoreError(
                    f"{self.files.path}: index.json entry {entry.get('digest')} has no full image "
                    f"name ({REF_NAME} {name!r}); kkimage needs registry/repository:tag"
                ) from None
            found.append(StoredImage(ref, self._read_manifest(entry["digest"], ref)))
        return found

    def _read_manifest(self, digest: str, ref: ImageReference) -> Manifest:
        if digest in self._synthesized:
            return self._synthesized[digest]
        raw = self.files.read(self._name(digest))
        check_digest(f"manifest {ref.name}@{digest} in {self.files.path}", raw, digest)
        return Manifest.parse(raw, what=f"manifest {ref.name}@{digest} in {self.files.path}")

    def _name(self, digest: str) -> str:
        return self._blob_names.get(digest) or blob_name(digest)

    def resolve(self, ref: ImageReference) -> Manifest:
        for image in self.images():
            if image.reference == ref:
                return image.manifest
        raise StoreError(f"{ref} is not in {self.files.path}")

    def manifest(self, ref: ImageReference, digest: str) -> Manifest:
        return self._read_manifest(digest, ref)

    def config(self, ref: ImageReference, descriptor: dict) -> bytes:
        with self.open_blob(ref, descriptor) as reader:
            return reader.read_all()

    def open_blob(
        self, ref: ImageReference, descriptor: dict, progress: Progress | None = None
    ) -> VerifiedReader:
        digest = descriptor["digest"]
        what = f"blob {digest} in {self.files.path}"
        handle = self.files.open(self._name(digest))
        return VerifiedReader(handle, digest, descriptor["size"], what, progress)

    def ensure_blobs(self, ref: ImageReference, blobs: list[dict]) -> None:
        for blob in blobs:
            if not self.files.exists(self._name(blob["digest"])):
                raise StoreError(f"blob {blob['digest']} is missing from {self.files.path}")

    def _docker_images(self) -> list[StoredImage]:
        """Images of a Docker archive without index.json: each manifest.json entry as a
        Docker manifest made here (so with a digest of its own; configs and layers keep
        theirs). Each layer is hashed once to learn its digest."""
        try:
            entries = json.loads(self.files.read("manifest.json"))
        except (ValueError, StoreError) as exc:
            where = self.files.path
            raise StoreError(f"{where}: no index.json, and no manifest.json: {exc}") from None
        found = []
        for entry in entries:
            config = self._describe(entry["Config"], DOCKER_CONFIG)
            layers = [self._describe(name, DOCKER_LAYER) for name in entry.get("Layers", [])]
            content = {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": config,
                "layers": layers,
            }
            raw = json.dumps(content, separators=(",", ":")).encode()
            manifest = Manifest(raw, DOCKER_MANIFEST, content)
            self._synthesized[manifest.digest] = manifest
            for tag in entry.get("RepoTags") or []:
                found.append(StoredImage(parse_reference(tag), manifest))
        return found

    def _describe(self, name: str, media_type: str) -> dict:
        digest, size, head = hashlib.sha256(), 0, b""
        with self.files.open(name) as handle:
            while chunk := handle.read(1 << 20):
                head = head or chunk[:2]
                digest.update(chunk)
                size += len(chunk)
        if media_type == DOCKER_LAYER and head == GZIP_MAGIC:
            media_type += ".gzip"
        self._blob_names["sha256:" + digest.hexdigest()] = name
        return {"mediaType": media_type, "digest": "sha256:" + digest.hexdigest(), "size": size}

    # ---- writing -----------------------------------------------------------------------------

    def begin_image(self, ref: ImageReference, root: Manifest, blobs: list[dict]) -> bool:
        if not self.docker:
            return True
        if root.is_index and len(root.children) != 1:
            raise KkImageError(
                f"a Docker archive holds one platform per image and this one has "
                f"{len(root.children)}: choose one with --platform"
            )
        if root.config is not None and root.config.get("mediaType") not in IMAGE_CONFIGS:
            raise KkImageError(
                f"a Docker archive holds container images, and this is an artifact "
                f"(config {root.config.get('mediaType')})"
            )
        return True

    def blob_key(self, ref: ImageReference, digest: str) -> Hashable:
        return ("oci", self.files.path, digest)

    def has_blob(self, ref: ImageReference, descriptor: dict) -> bool:
        return self.files.size(blob_name(descriptor["digest"])) == descriptor["size"]

    def put_blob(
        self, ref: ImageReference, descriptor: dict, open_source: BlobOpener, mount: str | None
    ) -> BlobOutcome:
        with open_source() as reader:
            self.files.put(blob_name(descriptor["digest"]), reader)
        return BlobOutcome(transferred=descriptor["size"])

    def put_manifest(self, ref: ImageReference, name: str, manifest: Manifest, check: bool) -> None:
        with self._lock:
            self._written[manifest.digest] = manifest
        if not self.files.exists(blob_name(manifest.digest)):
            self.files.put_bytes(blob_name(manifest.digest), manifest.raw)

    def put_root(self, ref: ImageReference, manifest: Manifest, check: bool) -> None:
        self.put_manifest(ref, ref.store_name, manifest, check)
        with self._lock:
            self._roots[str(ref)] = manifest

    def finish(self) -> None:
        """Write the names (index.json, and manifest.json for Docker), then show the whole."""
        entries = self._existing_entries()
        for name, root in sorted(self._roots.items()):
            entries[name] = {
                "mediaType": root.media_type,
                "digest": root.digest,
                "size": len(root.raw),
                "annotations": {CONTAINERD_NAME: name, REF_NAME: name},
            }
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries.values())}
        self.files.put_bytes("oci-layout", LAYOUT)
        if self.docker:
            self.files.put_bytes("manifest.json", self._docker_manifest())
        self.files.put_bytes("index.json", json.dumps(index, separators=(",", ":")).encode())
        self.files.commit()

    def abort(self) -> None:
        self.files.abort()

    def _existing_entries(self) -> dict[str, dict]:
        """A layout directory's names so far (an export adds to it); none in an archive."""
        if self.format != "oci-layout" or not self.files.exists("index.json"):
            return {}
        entries = {}
        for entry in self._index():
            annotations = entry.get("annotations") or {}
            entries[annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME) or ""] = entry
        return entries

    def _docker_manifest(self) -> bytes:
        entries = []
        for name, root in sorted(self._roots.items()):
            image = self._written[root.children[0]["digest"]] if root.is_index else root
            if image.media_type in INDEX_TYPES or image.config is None:
                raise ManifestError(f"{name}: a Docker archive needs an image manifest")
            ref = parse_reference(name)
            entries.append(
                {
                    "Config": blob_name(image.config["digest"]),
                    "RepoTags": [name] if ref.tag else [],
                    "Layers": [blob_name(layer["digest"]) for layer in image.content["layers"]],
                }
            )
        return json.dumps(entries, separators=(",", ":")).encode()

    def describe(self, ref: ImageReference) -> str:
        return f"{self.format}:{self.files.path}:{ref}"
