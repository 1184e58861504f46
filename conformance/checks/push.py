"""Push: discovery, selection, exact bytes, skipping and mounting (docs/spec.md 2, 7)."""

from __future__ import annotations

import json

from kkimage_fixtures import images
from kkimage_fixtures.stores import write_store

from ..context import CORPUS, CaseContext
from . import check
from .common import NOT_FOUND, SEED_DEST, corpus, fill, pull, pull_seeded, push


def _pushed(ctx: CaseContext, repository: str, reference: str = "v1") -> bytes | None:
    return ctx.registry.client.manifest_bytes(repository, reference)


@check
def push_everything_byte_exact(ctx: CaseContext) -> None:
    """Pull the corpus unfiltered, push it: every root, child and blob keeps its digest."""
    store = pull_seeded(ctx, list(CORPUS))
    dest = f"{ctx.registry.host}/{ctx.namespace}/" + SEED_DEST
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.auth()])), "the push")
    for name, image in CORPUS.items():
        repository = f"{ctx.namespace}/seed/{name}"
        ctx.expect(
            _pushed(ctx, repository) == image.root.data,
            f"{repository}:v1 differs",
            image.digest,
            "missing or other bytes",
        )
        for digest, child in image.manifests.items():
            ctx.expect(
                _pushed(ctx, repository, digest) == child.data,
                f"child {digest} of {repository}",
                "the source's bytes",
                "missing or other",
            )
        for digest in image.blobs:
            ctx.expect(
                ctx.registry.client.has_blob(repository, digest),
                f"blob {digest} missing in {repository}",
                "present",
                "missing",
            )


@check
def push_src_pattern(ctx: CaseContext) -> None:
    """src_pattern is an unanchored regular expression over registry/repository:tag."""
    store = pull_seeded(ctx, list(CORPUS))
    dest = f"{ctx.registry.host}/{ctx.namespace}/" + SEED_DEST
    task = push(store, dest, [ctx.registry.auth()], src_pattern="single-(oci|docker):v")
    ctx.succeeded(ctx.run(task))
    pushed = sorted(n for n in CORPUS if ctx.registry.client.tags(f"{ctx.namespace}/seed/{n}"))
    ctx.expect_equal(pushed, ["single-docker", "single-oci"], "images pushed")


@check
def push_filtered_index(ctx: CaseContext) -> None:
    store = pull_seeded(ctx, ["multi"], platform=["linux/arm64"])
    path = ctx.manifest_file(store, ctx.registry.ref("multi"))
    stored = ctx.read(path, store, "the filtered pull")
    dest = f"{ctx.registry.host}/{ctx.namespace}/" + SEED_DEST
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.auth()])))
    found = _pushed(ctx, f"{ctx.namespace}/seed/multi")
    ctx.expect(
        found == stored,
        "the pushed index is not the stored one",
        images.sha256(stored),
        found and images.sha256(found),
    )


@check
def push_kubekey_store(ctx: CaseContext, layout: str) -> None:
    """A store written by KubeKey (L1 with registry-1.docker.io, or L2) pushes as docker.io."""
    image = corpus("dockerlist")
    store = write_store(
        ctx.path("kubekey"),
        {
            "registry-1.docker.io/kubesphere/ks-apiserver:v4.1.3": image,
        },
        layout,
    )
    dest = (
        f"{ctx.registry.host}/{ctx.namespace}/"
        "{{ .module.image.src.reference.registry }}/" + SEED_DEST
    )
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.auth()])))
    repository = f"{ctx.namespace}/docker.io/kubesphere/ks-apiserver"
    ctx.expect(
        _pushed(ctx, repository, "v4.1.3") == image.root.data,
        f"expected the image at {repository}:v4.1.3",
        image.digest,
        "nothing there",
    )


@check
def push_digest_root(ctx: CaseContext, name: str, dest: str, repository: str) -> None:
    """Pull `name` by digest, push it to `dest` (a template; `{host}`, `{ns}` filled in) and
    find it under its digest in `repository`."""
    image = corpus(name)
    store = ctx.path("store")
    reference = f"{ctx.registry.host}/seed/{name}@{image.digest}"
    ctx.succeeded(ctx.run(pull(store, [reference], [ctx.registry.auth()])))
    ctx.succeeded(ctx.run(push(store, fill(dest, ctx), [ctx.registry.auth()])), "the push")
    found = _pushed(ctx, fill(repository, ctx), image.digest)
    ctx.expect(
        found == image.root.data, "the digest-pulled root was not pushed", image.digest, "missing"
    )


@check
def push_skips_present(ctx: CaseContext) -> None:
    """A second push uploads no blob byte (counted at a proxy)."""
    store = pull_seeded(ctx, ["multi", "shared-a"])
    proxy = ctx.proxy()
    task = push(
        store, f"{proxy.host}/{ctx.namespace}/" + SEED_DEST, [ctx.registry.proxy_auth(proxy)]
    )
    ctx.succeeded(ctx.run(task), "the first push")
    ctx.expect(
        proxy.traffic.received("/blobs/uploads/") > 0,
        "the first push uploaded nothing",
        "blob bytes",
        0,
    )
    proxy.traffic.bytes_in.clear()
    ctx.succeeded(ctx.run(task), "the second push")
    ctx.expect_equal(proxy.traffic.received("/blobs/uploads/"), 0, "bytes uploaded again")


@check
def push_mounts_shared_layers(ctx: CaseContext) -> None:
    """A layer pushed to one repository is mounted, not uploaded, into the second."""
    store = pull_seeded(ctx, ["shared-a", "shared-b"])
    proxy = ctx.proxy()
    dest = f"{proxy.host}/{ctx.namespace}/" + SEED_DEST
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.proxy_auth(proxy)])))
    base = images.shared_base()[0]
    uploaded = proxy.traffic.received("/blobs/uploads/")
    distinct = {d: b.size for n in ("shared-a", "shared-b") for d, b in CORPUS[n].blobs.items()}
    ctx.expect_equal(uploaded, sum(distinct.values()), "bytes uploaded (the shared layer once)")
    mount = rf"mount=sha256(:|%3A){base.digest[7:]}"
    ctx.expect(
        proxy.traffic.count(mount, "POST") >= 1,
        "the shared layer should be mounted from the other repository",
        "POST ...?mount=<digest>&from=<repository>",
        "no mount request",
    )
    for name in ("shared-a", "shared-b"):
        ctx.expect(
            ctx.registry.client.has_blob(f"{ctx.namespace}/seed/{name}", base.digest),
            f"the shared layer is missing in {name}",
            "present",
            "missing",
        )


@check
def push_incomplete_store(ctx: CaseContext) -> None:
    image = images.single("incomplete", seed=ctx.namespace)
    store = write_store(ctx.path("s"), {"quay.io/org/app:v1": image}, ctx.layout)
    layer = json.loads(image.root.data)["layers"][0]["digest"]
    (store / "blobs" / layer).unlink()
    dest = f"{ctx.registry.host}/{ctx.namespace}/app"
    outcome = ctx.run(push(store, dest, [ctx.registry.auth()]))
    ctx.failed_cleanly(outcome, NOT_FOUND + "|" + layer.removeprefix("sha256:")[:12])
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/app"), [], "tags pushed")
