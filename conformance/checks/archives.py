"""export and import: the files an air gap is crossed with (docs/spec.md section 10).

Archives are read with the suite's own code (`conformance.stores.archive_files`) and made
with the fixtures' own writer: the reference's readers and writers judge nothing here.
"""

from __future__ import annotations

import json

from kkimage_fixtures.images import sha256
from kkimage_fixtures.stores import corrupt_blob, write_oci_archive, write_store

from ..context import CaseContext
from ..stores import archive_files, files
from . import check
from .common import DIGEST, corpus, expect_root

# Images with their store names; no registry is involved in these cases.
SOURCE = {
    "quay.io/org/multi:v1": "multi",
    "quay.io/org/list:v1": "dockerlist",
    "registry.example:5000/team/single:v2": "single-oci",
    "quay.io/org/docker:v1": "single-docker",
}
AMD64 = {ref: name for ref, name in SOURCE.items() if name != "single-docker"}  # it is arm64
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"


def _store(ctx: CaseContext, names: dict[str, str] = SOURCE):
    return write_store(ctx.path("store"), {ref: corpus(name) for ref, name in names.items()})


def _blob(found: dict[str, bytes], digest: str) -> bytes | None:
    return found.get("blobs/sha256/" + digest.removeprefix("sha256:"))


def _expect_content(ctx: CaseContext, found: dict[str, bytes], name: str, what: str) -> None:
    """Every manifest and blob of image `name` under blobs/sha256/, byte for byte."""
    image = corpus(name)
    for content in [image.root, *image.manifests.values(), *image.blobs.values()]:
        ctx.expect(
            _blob(found, content.digest) == content.data,
            f"{what}: blobs/sha256/{content.digest[7:19]}… missing or altered",
            "the content, under its digest",
            "missing" if _blob(found, content.digest) is None else "other bytes",
        )


@check
def export_oci(ctx: CaseContext, format: str) -> None:
    """An OCI layout (directory or tar): oci-layout, index.json naming every image by its
    full reference, every manifest and blob under its digest."""
    output = ctx.path(f"images.{format}")
    store = _store(ctx)
    ctx.succeeded(
        ctx.command("export", "--images-dir", store, "--format", format, "--output", output)
    )
    found = archive_files(output) if output.exists() else {}
    ctx.expect("oci-layout" in found, "no oci-layout file", "oci-layout", sorted(found)[:8])
    index = json.loads(found.get("index.json", b"{}"))
    named = {}
    for entry in index.get("manifests", []):
        annotations = entry.get("annotations") or {}
        named[annotations.get(CONTAINERD_NAME)] = (entry, annotations.get(REF_NAME))
    for reference, name in SOURCE.items():
        ctx.expect(
            reference in named,
            f"index.json names no {reference} (as {CONTAINERD_NAME})",
            reference,
            sorted(str(n) for n in named),
        )
        entry, ref_name = named[reference]
        ctx.expect_equal(ref_name, reference, f"{reference}: its {REF_NAME}")
        ctx.expect_equal(entry.get("digest"), corpus(name).digest, f"{reference}: root digest")
        _expect_content(ctx, found, name, reference)


@check
def export_docker(ctx: CaseContext) -> None:
    """A Docker archive: manifest.json lists each image's config, its full reference in
    RepoTags and its layers in order; a multi-platform image gives the platform asked for."""
    output = ctx.path("images.tar")
    store = _store(ctx, AMD64)
    args = ["--images-dir", store, "--format", "docker-archive", "--output", output]
    ctx.succeeded(ctx.command("export", *args, "--platform", "linux/amd64"))
    found = archive_files(output) if output.exists() else {}
    entries = json.loads(found.get("manifest.json", b"[]"))
    by_tag = {tag: entry for entry in entries for tag in entry.get("RepoTags") or []}
    for reference, name in AMD64.items():
        image = corpus(name)
        manifest = json.loads(image.root.data)
        if "manifests" in manifest:
            manifest = json.loads(image.child("linux/amd64").data)
        entry = by_tag.get(reference)
        missing = f"manifest.json has no RepoTags {reference}"
        ctx.expect(entry is not None, missing, reference, sorted(by_tag))
        config = found.get(entry["Config"], b"")
        ctx.expect_equal(sha256(config), manifest["config"]["digest"], f"{reference}: Config")
        layers = [sha256(found.get(layer, b"")) for layer in entry.get("Layers", [])]
        ctx.expect_equal(
            layers, [layer["digest"] for layer in manifest["layers"]], f"{reference}: Layers"
        )


@check
def export_docker_needs_one_platform(ctx: CaseContext) -> None:
    output = ctx.path("multi.tar")
    store = _store(ctx, {"quay.io/org/multi:v1": "multi"})
    outcome = ctx.command(
        "export", "--images-dir", store, "--format", "docker-archive", "--output", output
    )
    ctx.failed_cleanly(outcome, "platform")
    written = sorted(p.name for p in ctx.tmp.iterdir() if "multi.tar" in p.name)
    ctx.expect_equal(written, [], "files written for the refused archive")


@check
def export_is_whole_or_nothing(ctx: CaseContext, format: str) -> None:
    """A damaged blob stops the export: no archive (or, for a directory, no named image)."""
    output = ctx.path(f"out.{format}")
    store = _store(ctx, {"quay.io/org/single:v1": "single-oci"})
    layer = json.loads(corpus("single-oci").root.data)["layers"][0]["digest"]
    corrupt_blob(store, layer)
    outcome = ctx.command("export", "--images-dir", store, "--format", format, "--output", output)
    ctx.failed_cleanly(outcome, DIGEST)
    if format == "oci-layout":
        named = (output / "index.json").exists()
        ctx.expect(not named, "a failed export named its image", "no index.json", "index.json")
    else:
        left = sorted(p.name for p in ctx.tmp.iterdir() if p.name not in ("store",))
        ctx.expect_equal(left, [], "files left by a failed export")


@check
def import_oci_archive(ctx: CaseContext) -> None:
    """An OCI archive made elsewhere (by the suite's own writer) is imported byte for byte."""
    archive = write_oci_archive(
        ctx.path("made.tar"), {ref: corpus(name) for ref, name in SOURCE.items()}
    )
    store = ctx.path("store")
    ctx.succeeded(ctx.command("import", "--images-dir", store, "--layout", ctx.layout, archive))
    for reference, name in SOURCE.items():
        expect_root(ctx, store, reference, corpus(name).root.data, reference)
        image = corpus(name)
        for digest, child in image.manifests.items():
            path = ctx.manifest_file(store, reference, digest)
            kept = path.is_file() and path.read_bytes() == child.data
            ctx.expect(
                kept, f"{reference}: child {digest} missing or altered", "the bytes", "other"
            )
    ctx.expect("blobs/" in " ".join(files(store)), "no blobs imported", "blobs", files(store)[:5])
