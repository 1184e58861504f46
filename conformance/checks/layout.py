"""Layout: what a pull writes (docs/spec.md section 2 and 3)."""

from __future__ import annotations

from kkimage_fixtures import images

from ..context import CaseContext
from ..stores import blob_names, damaged_blobs, files, stray_files
from . import check
from .common import corpus, expect_blobs, expect_root, pull, pull_seeded


@check
def pull_root_bytes(ctx: CaseContext, names: list[str]) -> None:
    """Each root is stored byte for byte under manifests/<tag>."""
    store = pull_seeded(ctx, names)
    for name in names:
        expect_root(ctx, store, ctx.registry.ref(name), corpus(name).root.data, f"{name}:v1")


@check
def pull_children(ctx: CaseContext, names: list[str]) -> None:
    """Every child manifest is stored as manifests/sha256:<hex>, byte for byte."""
    store = pull_seeded(ctx, names)
    for name in names:
        image = corpus(name)
        for digest, child in image.manifests.items():
            path = ctx.manifest_file(store, ctx.registry.ref(name), digest)
            ctx.expect(
                path.is_file() and path.read_bytes() == child.data,
                f"{name}: child manifest {digest} missing or altered",
                "the registry's bytes",
                "missing" if not path.is_file() else images.sha256(path.read_bytes()),
            )


@check
def pull_blobs(ctx: CaseContext, names: list[str]) -> None:
    """Exactly the images' blobs, flat in blobs/, each hashing to its name."""
    store = pull_seeded(ctx, names)
    expected = set().union(*(set(corpus(n).blobs) for n in names))
    expect_blobs(ctx, store, expected, ", ".join(names))
    ctx.expect_equal(damaged_blobs(store), [], "blobs whose content is not their name")


@check
def pull_by_digest(ctx: CaseContext, name: str, tag: str | None = None) -> None:
    """`name@digest` is stored under the digest; `name:tag@digest` under the tag."""
    image = corpus(name)
    reference = f"{ctx.registry.host}/seed/{name}" + (f":{tag}" if tag else "") + f"@{image.digest}"
    store = ctx.path("store")
    ctx.succeeded(ctx.run(pull(store, [reference], [ctx.registry.auth()])), "the pull by digest")
    expect_root(ctx, store, reference, image.root.data, reference)
    expect_blobs(ctx, store, set(image.blobs), reference)


@check
def pull_keeps_port(ctx: CaseContext) -> None:
    """The registry directory is host:port (named so even when the registry is portless)."""
    host = ctx.registry.host_with_port
    store = ctx.path("store")
    reference = f"{host}/seed/single-oci:v1"
    task = pull(store, [reference], [ctx.registry.auth(repo=host)])
    ctx.succeeded(ctx.run(task), "a pull from host:port")
    ctx.expect(
        (store / host).is_dir(),
        "the store should hold a directory host:port",
        f"{host}/",
        sorted(p.name for p in store.iterdir()) if store.is_dir() else "no store",
    )
    expect_root(ctx, store, reference, corpus("single-oci").root.data, reference)


@check
def pull_no_stray_files(ctx: CaseContext, names: list[str]) -> None:
    """After a pull, nothing but the layout's files: no temporary or partial files."""
    store = pull_seeded(ctx, names)
    ctx.expect_equal(stray_files(store), [], "files the layout has no place for")


@check
def pull_shared_layers_once(ctx: CaseContext) -> None:
    """Two images sharing a base layer: one blob file for it."""
    store = pull_seeded(ctx, ["shared-a", "shared-b"])
    expected = set(corpus("shared-a").blobs) | set(corpus("shared-b").blobs)
    expect_blobs(ctx, store, expected, "shared-a + shared-b")


@check
def pull_nested_repository(ctx: CaseContext) -> None:
    """A repository of several components: <registry>/<a>/<b>/<c>/manifests/<tag>."""
    image = images.single("deep", seed=ctx.namespace)
    ctx.registry.client.push(f"{ctx.namespace}/team/deep/app", image)
    reference = f"{ctx.registry.host}/{ctx.namespace}/team/deep/app:v1"
    store = ctx.path("store")
    ctx.succeeded(ctx.run(pull(store, [reference], [ctx.registry.auth()])))
    expect_root(ctx, store, reference, image.root.data, reference)


@check
def pull_blob_names_are_digests(ctx: CaseContext) -> None:
    """Blob files are named sha256:<hex> (not sha256/<hex>, not OCI layout)."""
    store = pull_seeded(ctx, ["single-docker"])
    expected = {d for d in corpus("single-docker").blobs}
    ctx.expect(
        expected <= blob_names(store),
        "blobs must be files blobs/sha256:<hex>",
        sorted(expected),
        sorted(blob_names(store)),
    )
    ctx.expect(
        not (store / "index.json").exists() and not (store / "oci-layout").exists(),
        "the store is KubeKey's layout, not an OCI image layout",
        "no index.json",
        "index.json / oci-layout",
    )


@check
def pull_idempotent(ctx: CaseContext) -> None:
    """A second identical pull fetches no blob (counted at a proxy) and leaves the same files."""
    proxy = ctx.proxy()
    store = ctx.path("store")
    task = pull(store, [f"{proxy.host}/seed/multi:v1"], [ctx.registry.proxy_auth(proxy)])
    ctx.succeeded(ctx.run(task), "the first pull")
    expect_root(ctx, store, f"{proxy.host}/seed/multi:v1", corpus("multi").root.data, "first")
    ctx.expect(
        proxy.traffic.count("/blobs/sha256:", "GET") > 0,
        "the first pull downloaded no blob",
        "blob GETs",
        0,
    )
    before = {p: (store / p).read_bytes() for p in files(store)}
    proxy.traffic.requests.clear()
    ctx.succeeded(ctx.run(task), "the second pull")
    ctx.expect_equal(proxy.traffic.count("/blobs/sha256:", "GET"), 0, "blob downloads on a re-run")
    after = {p: (store / p).read_bytes() for p in files(store)}
    ctx.expect(before == after, "a re-run changed the store", sorted(before), sorted(after))
