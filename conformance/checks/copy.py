"""Copy: store to store (docs/spec.md 1, 2, 4, 5)."""

from __future__ import annotations

import json

from kkimage_fixtures.stores import corrupt_blob, write_store

from ..context import CaseContext
from ..stores import blob_names, files, read_json
from . import check
from .common import (
    DIGEST,
    NOT_FOUND,
    children,
    copy,
    corpus,
    expect_blobs,
    expect_root,
    image_blobs,
)

SOURCE = {
    "registry-1.docker.io/calico/apiserver:v3.28.2": "multi",
    "registry-1.docker.io/calico/node:v3.28.2": "dockerlist",
    "quay.io/org/single:v1": "single-oci",
}


def _source(ctx: CaseContext, layout: str | None = None):
    """The source store, in the layout the case's format writes unless told."""
    images = {ref: corpus(name) for ref, name in SOURCE.items()}
    return write_store(ctx.path("from"), images, layout or ctx.layout)


# Every image of SOURCE by name, for the cases that check something else than copying a
# whole store: listing them keeps those cases about one thing.
LISTED = [ref.replace("registry-1.docker.io", "docker.io") for ref in SOURCE]


@check
def copy_listed_only(ctx: CaseContext) -> None:
    """The seed's example: only the listed image, byte for byte, under docker.io/."""
    target = ctx.path("to")
    ctx.succeeded(ctx.run(copy(_source(ctx), str(target), ["docker.io/calico/apiserver:v3.28.2"])))
    image = corpus("multi")
    expect_root(ctx, target, "docker.io/calico/apiserver:v3.28.2", image.root.data, "apiserver")
    expect_blobs(ctx, target, set(image.blobs), "apiserver")
    ctx.expect_equal(ctx.images(target), {"docker.io/calico/apiserver:v3.28.2"}, "images copied")


@check
def copy_everything(ctx: CaseContext, layout: str) -> None:
    target = ctx.path("to")
    ctx.succeeded(ctx.run(copy(_source(ctx, layout), str(target))))
    expected = {ref.replace("registry-1.docker.io", "docker.io") for ref in SOURCE}
    ctx.expect_equal(ctx.images(target), expected, f"images copied from an {layout} store")
    for ref, name in SOURCE.items():
        expect_root(
            ctx,
            target,
            ref.replace("registry-1.docker.io", "docker.io"),
            corpus(name).root.data,
            ref,
        )


@check
def copy_platform(ctx: CaseContext) -> None:
    target = ctx.path("to")
    task = copy(
        _source(ctx), str(target), ["docker.io/calico/node:v3.28.2"], platform=["linux/arm/v7"]
    )
    ctx.succeeded(ctx.run(task))
    image = corpus("dockerlist")
    path = ctx.manifest_file(target, "docker.io/calico/node:v3.28.2")
    stored = read_json(ctx.read(path, target, "the filtered copy"))
    kept = children(image, ["linux/arm/v7"])
    ctx.expect_equal(stored.get("manifests"), kept, "children kept by copy's platform filter")
    ctx.expect_equal(
        stored.get("mediaType"), json.loads(image.root.data)["mediaType"], "media type"
    )
    blobs = image_blobs(image.manifests[kept[0]["digest"]].data, image)
    expect_blobs(ctx, target, blobs, "filtered copy")


@check
def copy_pattern(ctx: CaseContext, key: str) -> None:
    target = ctx.path("to")
    task = copy(_source(ctx), str(target), LISTED, to={key: "calico/(api|x)"})
    ctx.succeeded(ctx.run(task))
    ctx.expect_equal(ctx.images(target), {"docker.io/calico/apiserver:v3.28.2"}, f"to.{key}")


@check
def copy_templated_path(ctx: CaseContext) -> None:
    out = ctx.path("out")
    to = str(out) + '/{{ .module.image.src.reference.repository | replace "/" "_" }}'
    ctx.succeeded(ctx.run(copy(_source(ctx), to, LISTED)))
    found = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    ctx.expect_equal(found, ["calico_apiserver", "calico_node", "org_single"], "to.path rendered")


@check
def copy_damaged_source(ctx: CaseContext) -> None:
    source = _source(ctx)
    image = corpus("single-oci")
    layer = json.loads(image.root.data)["layers"][0]["digest"]
    corrupt_blob(source, image.blobs[layer])
    target = ctx.path("to")
    ctx.failed_cleanly(ctx.run(copy(source, str(target), ["quay.io/org/single:v1"])), DIGEST)
    ctx.expect(layer not in blob_names(target), "a damaged blob was copied", "not copied", layer)
    ctx.expect(
        not ctx.manifest_file(target, "quay.io/org/single:v1").exists(),
        "the image of a damaged blob is in the target",
        "no tag file",
        "a tag file",
    )


@check
def copy_by_digest(ctx: CaseContext) -> None:
    """A root named by digest is found in an L1 store that has it under a tag only."""
    image = corpus("single-oci")
    target = ctx.path("to")
    ctx.succeeded(ctx.run(copy(_source(ctx), str(target), [f"quay.io/org/single@{image.digest}"])))
    expect_root(ctx, target, f"quay.io/org/single@{image.digest}", image.root.data, "by digest")


@check
def copy_missing_image(ctx: CaseContext) -> None:
    target = ctx.path("to")
    outcome = ctx.run(copy(_source(ctx), str(target), ["quay.io/org/absent:v1"]))
    ctx.failed_cleanly(outcome, NOT_FOUND + "|absent")
    ctx.expect_equal(files(target), [], "files written")


@check
def copy_mixed_hub_directories(ctx: CaseContext) -> None:
    """A KubeKey store (registry-1.docker.io/) into which docker.io/ content was added."""
    source = write_store(
        ctx.path("from"),
        {
            "registry-1.docker.io/library/app:v1": corpus("multi"),
        },
    )
    write_store(source, {"docker.io/library/app:v2": corpus("single-oci")})
    target = ctx.path("to")
    listed = ["docker.io/library/app:v1", "docker.io/library/app:v2"]
    ctx.succeeded(ctx.run(copy(source, str(target), listed)))
    ctx.expect_equal(
        ctx.images(target),
        set(listed),
        "images copied",
    )
    for tag, name in (("v1", "multi"), ("v2", "single-oci")):
        expect_root(ctx, target, f"docker.io/library/app:{tag}", corpus(name).root.data, tag)


@check
def copy_empty_path(ctx: CaseContext) -> None:
    outcome = ctx.run(copy(_source(ctx), "{{ .out }}", LISTED), {"out": ""})
    ctx.failed_cleanly(outcome, r"path|empty")
    ctx.expect_equal(files(ctx.tmp / "blobs"), [], "files written")
