"""Platforms: filtering indexes and single manifests (docs/spec.md section 4)."""

from __future__ import annotations

import json
import re

from kkimage_fixtures import images

from ..context import CaseContext
from ..stores import read_json
from . import check
from .common import (
    children,
    corpus,
    expect_blobs,
    expect_pulled,
    expect_refused,
    expect_root,
    image_blobs,
    pull,
    pull_image,
)


def _pull(ctx: CaseContext, name: str, platform, policy: str | None = None, into="store"):
    extra = {"platform": platform, **({"policy": policy} if policy else {})}
    return pull_image(ctx, [ctx.registry.auth()], name, into=into, **extra)


@check
def filter_keeps(ctx: CaseContext, name: str, platform: list[str], kept: list[str]) -> None:
    """The filtered index keeps exactly `kept`, in index order, descriptors verbatim, the
    original media type, and only their blobs are transferred."""
    image = corpus(name)
    store, outcome = _pull(ctx, name, platform)
    ctx.succeeded(outcome, f"pull with platform {platform}")
    path = ctx.manifest_file(store, ctx.registry.ref(name))
    stored = read_json(ctx.read(path, store, "the filtered root"))
    original = json.loads(image.root.data)
    ctx.expect_equal(stored.get("mediaType"), original["mediaType"], "the index's media type")
    expected = children(image, kept)
    ctx.expect_equal(stored.get("manifests"), expected, f"children kept for platform {platform}")
    blobs = set()
    for descriptor in expected:
        blobs |= image_blobs(image.manifests[descriptor["digest"]].data, image)
    expect_blobs(ctx, store, blobs, f"{name} filtered to {platform}")


@check
def filter_keeps_other_fields(ctx: CaseContext) -> None:
    """Top-level fields other than `manifests` survive filtering, unchanged."""
    image = corpus("annotated")
    store, outcome = _pull(ctx, "annotated", ["linux/arm64"])
    ctx.succeeded(outcome)
    path = ctx.manifest_file(store, ctx.registry.ref("annotated"))
    stored = read_json(ctx.read(path, store, "the filtered root"))
    original = json.loads(image.root.data)
    for key, value in original.items():
        if key != "manifests":
            ctx.expect_equal(stored.get(key), value, f"top-level field {key!r} after filtering")
    created = stored.get("annotations", {}).get("org.opencontainers.image.created")
    ctx.expect(created is None, "a filtered index carries no creation time", None, created)


@check
def filter_is_deterministic(ctx: CaseContext) -> None:
    """Two filtered pulls of the same image give the same bytes."""
    first, one = _pull(ctx, "multi", ["linux/amd64", "linux/arm/v7"], into="a")
    second, two = _pull(ctx, "multi", ["linux/amd64", "linux/arm/v7"], into="b")
    ctx.succeeded(one, "the first pull")
    ctx.succeeded(two, "the second pull")
    a = ctx.read(ctx.manifest_file(first, ctx.registry.ref("multi")), first, "the first pull")
    b = ctx.read(ctx.manifest_file(second, ctx.registry.ref("multi")), second, "the second pull")
    ctx.expect(
        a == b, "the same filter gave different index bytes", images.sha256(a), images.sha256(b)
    )


@check
def no_filter_is_byte_exact(ctx: CaseContext, platform) -> None:
    """No filter (absent, [], all, *): the root and every child byte for byte."""
    image = corpus("multi")
    store = ctx.path("store")
    extra = {} if platform == "absent" else {"platform": platform}
    ctx.succeeded(ctx.run(pull(store, [ctx.registry.ref("multi")], [ctx.registry.auth()], **extra)))
    expect_root(ctx, store, ctx.registry.ref("multi"), image.root.data, f"platform {platform}")
    expect_blobs(ctx, store, set(image.blobs), f"platform {platform}")


@check
def filter_keeping_all_keeps_bytes(ctx: CaseContext) -> None:
    """A filter that keeps every child keeps the original index bytes and digest."""
    image = corpus("dockerlist")
    store, outcome = _pull(ctx, "dockerlist", ["linux/amd64", "linux/arm64", "linux/arm/v7"])
    ctx.succeeded(outcome)
    expect_root(ctx, store, ctx.registry.ref("dockerlist"), image.root.data, "every child kept")


@check
def strict_missing_fails(ctx: CaseContext) -> None:
    """strict (the default): a missing platform fails and writes no image."""
    store, outcome = _pull(ctx, "dockerlist", ["linux/s390x", "linux/amd64"])
    ctx.failed_cleanly(outcome, "s390x")
    path = ctx.manifest_file(store, ctx.registry.ref("dockerlist"))
    ctx.expect(
        not path.exists(), "a failed image must not be in the store", "no tag file", str(path)
    )


@check
def warn_keeps_subset(ctx: CaseContext) -> None:
    """warn: the matching subset is kept and the run succeeds."""
    image = corpus("dockerlist")
    store, outcome = _pull(ctx, "dockerlist", ["linux/s390x", "arm64"], policy="warn")
    ctx.succeeded(outcome, "a warn-policy pull with a missing platform")
    path = ctx.manifest_file(store, ctx.registry.ref("dockerlist"))
    stored = read_json(ctx.read(path, store, "the warn-policy pull"))
    ctx.expect_equal(stored.get("manifests"), children(image, ["linux/arm64/v8"]), "children kept")


@check
def warn_nothing_matches_skips(ctx: CaseContext) -> None:
    """warn: an image with nothing matching is skipped, the run succeeds, and the other
    image of the same pull, which matches, is written."""
    store = ctx.path("store")
    refs = [ctx.registry.ref("single-arm"), ctx.registry.ref("multi")]
    task = pull(store, refs, [ctx.registry.auth()], platform=["linux/s390x"], policy="warn")
    ctx.succeeded(ctx.run(task), "a warn-policy pull where one image has nothing matching")
    path = ctx.manifest_file(store, refs[0])
    ctx.expect(
        not path.exists(), "a skipped image must not be in the store", "no tag file", str(path)
    )
    stored = read_json(ctx.read(ctx.manifest_file(store, refs[1]), store, "the matching image"))
    expected = children(corpus("multi"), ["linux/s390x"])
    ctx.expect_equal(stored.get("manifests"), expected, "children kept of the matching image")


@check
def single_manifest(ctx: CaseContext, name: str, platform: list[str], matches: bool) -> None:
    """A single-platform image matches by its config's os/architecture/variant."""
    store, outcome = _pull(ctx, name, platform)
    if matches:
        expect_pulled(ctx, store, outcome, f"{name} with platform {platform}", name)
    else:
        what = "files written for a refused image (its config too)"
        expect_refused(ctx, store, outcome, "|".join(map(re.escape, platform)), what)


@check
def digest_filtered(ctx: CaseContext) -> None:
    """`name@digest` with a filter: the filtered index is stored under its own digest."""
    image = corpus("multi")
    reference = f"{ctx.registry.host}/seed/multi@{image.digest}"
    store = ctx.path("store")
    task = pull(store, [reference], [ctx.registry.auth()], platform=["linux/amd64"])
    ctx.succeeded(ctx.run(task), "a filtered pull by digest")
    directory = ctx.manifest_file(store, reference).parent
    roots = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        content = read_json(path.read_bytes())
        if "manifests" in content:
            roots.append((path.name, images.sha256(path.read_bytes()), content))
    ctx.expect(len(roots) == 1, "expected one stored index", 1, [r[0] for r in roots])
    name, digest, content = roots[0]
    ctx.expect_equal(name, digest, "the filtered index's file name (its own digest)")
    ctx.expect(digest != image.digest, "the index was not filtered", "a new digest", digest)
    ctx.expect_equal(content["manifests"], children(image, ["linux/amd64"]), "kept children")
