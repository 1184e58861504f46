"""Reading a store the way the spec describes it, independently of any implementation."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

DIGEST_NAME = re.compile(r"sha256:[0-9a-f]{64}")


HUB = "docker.io"
HUB_L2 = "registry-1.docker.io"  # where L2 keeps Docker Hub's content (docs/spec.md R-G2-3)
LAYOUT_FILE = "layout"  # L2: {tag: digest}


def manifest_file(store: Path, reference: str, name: str | None = None, layout: str = "L1") -> Path:
    """`host/repo:tag` (or `host/repo@digest`) -> its file in `layout`; `name` overrides the
    tag/digest. In L2 a tag is looked up in `manifests/layout`: without that file, or without
    the tag in it, the answer is a path that does not exist (the check then says so)."""
    if "@" in reference:
        repository, default = reference.split("@", 1)
        last = repository.rsplit("/", 1)[-1]
        if ":" in last:  # name:tag@digest is stored under the tag
            repository, default = repository.rsplit(":", 1)
    else:
        repository, default = reference.rsplit(":", 1)
    wanted = name or default
    if layout == "L1":
        return store / repository / "manifests" / wanted
    if repository.startswith(HUB + "/"):
        repository = HUB_L2 + repository.removeprefix(HUB)
    directory = store / repository / "manifests"
    if wanted.startswith("sha256:"):
        return directory / wanted
    if not (directory / LAYOUT_FILE).is_file():
        return directory / LAYOUT_FILE  # what a check then reports missing
    digest = _layout_tags(directory).get(wanted)
    if isinstance(digest, str) and DIGEST_NAME.fullmatch(digest):
        return directory / digest
    return directory / wanted


def _layout_tags(directory: Path) -> dict:
    try:
        tags = json.loads((directory / LAYOUT_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return tags if isinstance(tags, dict) else {}


def images(store: Path) -> dict[str, Path]:
    """Every image of a store stored by tag, in either layout, by its name
    (`host/repo:tag`, Docker Hub's as docker.io whatever directory holds it) -> its file."""
    found: dict[str, Path] = {}
    for path in tag_files(store):
        found[_name(store, path.parent.parent, path.name)] = path
    for layout in store.rglob(f"manifests/{LAYOUT_FILE}") if store.is_dir() else ():
        for tag, digest in _layout_tags(layout.parent).items():
            if isinstance(digest, str) and DIGEST_NAME.fullmatch(digest):
                found[_name(store, layout.parent.parent, tag)] = layout.parent / digest
    return found


def _name(store: Path, repository: Path, tag: str) -> str:
    name = str(repository.relative_to(store))
    if name.startswith(HUB_L2 + "/"):
        name = HUB + name.removeprefix(HUB_L2)
    return f"{name}:{tag}"


def read_json(data: bytes) -> dict:
    """A stored manifest's JSON; not JSON at all is an empty mapping (checks then say what
    they miss in it)."""
    try:
        content = json.loads(data)
    except ValueError:
        return {}
    return content if isinstance(content, dict) else {}


def blob_names(store: Path) -> set[str]:
    directory = store / "blobs"
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def damaged_blobs(store: Path) -> list[str]:
    """Blob files whose content does not hash to their name."""
    return sorted(
        name
        for name in blob_names(store)
        if DIGEST_NAME.fullmatch(name) and sha256_file(store / "blobs" / name) != name
    )


def stray_files(store: Path) -> list[str]:
    """Files the layout has no place for: non-digest names among blobs, hidden files."""
    found = [f"blobs/{n}" for n in blob_names(store) if not DIGEST_NAME.fullmatch(n)]
    if store.is_dir():
        found += [
            str(p.relative_to(store))
            for p in store.rglob("*")
            if p.is_file() and p.name.startswith(".") and p.parent.name != "blobs"
        ]
    return sorted(found)


def tag_files(store: Path) -> list[Path]:
    """The files of a store's roots stored by tag (not by digest, not a layout file)."""
    return [
        p
        for p in store.rglob("manifests/*")
        if p.is_file() and not p.name.startswith("sha256:") and p.name != LAYOUT_FILE
    ]


def files(store: Path) -> list[str]:
    if not store.is_dir():
        return []
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


def archive_files(path: Path) -> dict[str, bytes]:
    """Every file of an OCI layout directory or of a tar archive, by its name in it."""
    import tarfile

    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with tarfile.open(path) as archive:
        return {
            m.name.removeprefix("./"): archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }
