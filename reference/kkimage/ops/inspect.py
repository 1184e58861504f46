"""ls and verify: what a store holds, and whether all of it is intact."""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

from ..errors import KkImageError
from ..manifest import Manifest
from ..platform import spellings
from ..reference import DIGEST
from ..store import BLOBS, Store, StoredImage
from .plan import stored_platforms

CHUNK = 1 << 20


class ImageListing(NamedTuple):
    reference: str
    digest: str
    media_type: str
    platforms: list[str]


def list_images(store: Store) -> list[ImageListing]:
    listings = []
    for image in store.images():
        manifest = image.manifest
        if manifest.is_index:
            platforms = spellings(manifest.children)
        else:
            platforms = stored_platforms(store.read_blob, manifest)
        listings.append(
            ImageListing(str(image.reference), manifest.digest, manifest.media_type, platforms)
        )
    return listings


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def verify_store(store: Store) -> list[str]:
    """Problems found: blobs that do not hash to their names, stray files among blobs, and
    images whose manifests or blobs are missing or damaged. Empty means intact."""
    problems: list[str] = []
    blob_dir = store.root / BLOBS
    intact: set[str] = set()
    if blob_dir.is_dir():
        for name in sorted(os.listdir(blob_dir)):
            path = os.path.join(blob_dir, name)
            if not DIGEST.fullmatch(name):
                problems.append(f"{BLOBS}/{name}: not a blob (stray or partial file)")
            elif (actual := _hash_file(path)) != name:
                problems.append(f"{BLOBS}/{name}: content hashes to {actual}")
            else:
                intact.add(name)
    for image in store.images(problems):
        problems.extend(_verify_image(store, image, intact))
    return problems


def _verify_image(store: Store, image: StoredImage, intact: set[str]) -> list[str]:
    ref = image.reference
    problems: list[str] = []
    pending: list[Manifest] = [image.manifest]
    seen: set[str] = set()
    while pending:
        manifest = pending.pop()
        for child in manifest.children:
            if child["digest"] in seen:
                continue
            seen.add(child["digest"])
            try:
                pending.append(store.read_manifest(ref, child["digest"]))
            except KkImageError as exc:
                problems.append(f"{ref}: child manifest {child['digest']}: {exc}")
        for blob in manifest.blobs:
            if blob["digest"] not in intact:
                problems.append(f"{ref}: blob {blob['digest']} is missing or damaged")
            elif not store.has_blob(blob["digest"], blob["size"]):
                problems.append(f"{ref}: blob {blob['digest']} has the wrong size")
    return problems
