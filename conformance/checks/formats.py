"""What only G2 (`manifests`/`src`/`dest`, docs/spec.md section 11) has: its own arguments,
its templates per image, layout L2, and the policy and pattern rules as they apply there."""

from __future__ import annotations

import json
from typing import Any

from kkimage_fixtures.stores import write_store

from ..context import CaseContext
from ..formats import PULL_SRC, g2_entry
from ..stores import HUB_L2, LAYOUT_FILE, files, read_json
from . import check
from .common import children, corpus, expect_blobs, expect_root, image_blobs


def g2(manifests: Any, src: str, dest: str, **extra: Any) -> dict:
    args: dict[str, Any] = {"src": src, "dest": dest, **extra}
    if manifests is not None:
        args = {"manifests": manifests, **args}
    return {"name": "g2 images", "image": args}


def _pull(ctx: CaseContext, names: list[str], **extra: Any) -> dict:
    store = ctx.path("store")
    refs = [ctx.registry.ref(n) for n in names]
    return g2(refs, PULL_SRC, f"local://{store}", auths=[_entry(ctx)], **extra)


def _entry(ctx: CaseContext) -> dict:
    """The registry's auths entry in G2's spelling."""
    return g2_entry(ctx.registry.auth())


def _tagged_multi(ctx: CaseContext, tags: tuple[str, ...]) -> list[str]:
    """multi pushed under each of `tags` in the case's namespace: its references."""
    for tag in tags:
        ctx.registry.client.push(f"{ctx.namespace}/multi", corpus("multi"), tag)
    return [ctx.registry.ref("multi", tag, ctx.namespace) for tag in tags]


def _only_the_matching_written(ctx: CaseContext, outcome, skipped: str, what: str) -> None:
    """Exit 0; `skipped` is not in the store, and multi (which has linux/s390x) is, with that
    child only: the run went on past the skip."""
    ctx.succeeded(outcome, what)
    store = ctx.path("store")
    ctx.expect(
        not ctx.manifest_file(store, ctx.registry.ref(skipped)).exists(),
        f"{what}: the image without the platform was written",
        f"no {skipped}",
        sorted(ctx.images(store)),
    )
    path = ctx.manifest_file(store, ctx.registry.ref("multi"))
    stored = read_json(ctx.read(path, store, f"{what}: the matching image"))
    wanted = children(corpus("multi"), ["linux/s390x"])
    ctx.expect_equal(stored.get("manifests"), wanted, f"{what}: children kept of multi")


@check
def warn_index_without_match(ctx: CaseContext) -> None:
    """policy: warn, an index with no child of the platform: skipped, exit 0, and the image
    of the same task that has it is written."""
    task = _pull(ctx, ["dockerlist", "multi"], platform=["linux/s390x"], policy="warn")
    _only_the_matching_written(ctx, ctx.run(task), "dockerlist", "a warn pull")


@check
def warn_single_without_match(ctx: CaseContext) -> None:
    """policy: warn never copies what the filter excludes: a single-arch amd64 image asked
    for another platform is skipped, not copied anyway (KubeKey copies it)."""
    task = _pull(ctx, ["single-oci", "multi"], platform=["linux/s390x"], policy="warn")
    _only_the_matching_written(ctx, ctx.run(task), "single-oci", "a warn pull")


@check
def pattern_over_manifests(ctx: CaseContext) -> None:
    """`pattern` is an unanchored search over the manifest strings: it keeps the matching."""
    outcome = ctx.run(_pull(ctx, ["single-oci", "single-docker", "multi"], pattern="single-"))
    ctx.succeeded(outcome, "a pull with a pattern")
    store = ctx.path("store")
    kept = {ctx.registry.ref("single-oci"), ctx.registry.ref("single-docker")}
    ctx.expect_equal(ctx.images(store), kept, "images kept by pattern 'single-'")


@check
def pattern_without_manifests(ctx: CaseContext) -> None:
    """No `manifests` and a local:// src: every image of the store, then `pattern` (the
    documented example of KubeKey's docs; KubeKey skips)."""
    source = write_store(
        ctx.path("from"),
        {
            "quay.io/org/single:v1": corpus("single-oci"),
            "quay.io/org/docker:v1": corpus("single-docker"),
            "quay.io/other/multi:v1": corpus("multi"),
        },
        "L2",
    )
    target = ctx.path("to")
    task = g2(None, f"local://{source}", f"local://{target}", pattern="quay.io/org/")
    ctx.succeeded(ctx.run(task), "a copy of a whole store with a pattern")
    wanted = {"quay.io/org/single:v1", "quay.io/org/docker:v1"}
    ctx.expect_equal(ctx.images(target), wanted, "images copied")
    expect_root(ctx, target, "quay.io/org/single:v1", corpus("single-oci").root.data, "single")


@check
def registry_not_listed(ctx: CaseContext) -> None:
    """No `manifests` with an oci:// src: an argument error naming `manifests`."""
    outcome = ctx.run(g2(None, PULL_SRC, f"local://{ctx.path('store')}"))
    ctx.failed_cleanly(outcome, "manifests")
    ctx.expect_equal(files(ctx.path("store")), [], "files written")


@check
def per_image_src(ctx: CaseContext) -> None:
    """`src` rendered per image: the manifests name images of elsewhere, `src` fetches each
    from the registry under test (a mirror), and the store names them as listed."""
    names = {"quay.io/seed/single-oci:v1": "single-oci", "quay.io/seed/multi:v1": "multi"}
    src = (
        f"oci://{ctx.registry.host}/{{{{ .module.image.reference.repository }}}}"
        ":{{ .module.image.reference.reference }}"
    )
    store = ctx.path("store")
    task = g2(list(names), src, f"local://{store}", auths=[_entry(ctx)])
    ctx.succeeded(ctx.run(task), "a pull through a per-image src template")
    ctx.expect_equal(ctx.images(store), set(names), "images stored under the listed names")
    for reference, name in names.items():
        expect_root(ctx, store, reference, corpus(name).root.data, reference)


@check
def json_string_arguments(ctx: CaseContext) -> None:
    """`manifests`, `platform` and `auths` as strings holding JSON lists, as the builtin
    roles render them (`{{ .x | toJson }}`)."""
    store = ctx.path("store")
    task = g2(
        "{{ .images | toJson }}",
        PULL_SRC,
        f"local://{store}",
        platform="{{ .platforms | toJson }}",
        auths="{{ .auths | toJson }}",
    )
    variables = {
        "images": [ctx.registry.ref("multi")],
        "platforms": ["linux/arm64"],
        "auths": [_entry(ctx)],
    }
    ctx.succeeded(ctx.run(task, variables), "a pull with JSON-list strings")
    path = ctx.manifest_file(store, ctx.registry.ref("multi"))
    index = read_json(ctx.read(path, store, "the pull"))
    kept = [d.get("platform", {}).get("architecture") for d in index.get("manifests", [])]
    ctx.expect_equal(kept, ["arm64"], "platforms kept by platform: '[\"linux/arm64\"]'")


@check
def layout_file_bytes(ctx: CaseContext) -> None:
    """L2 as KubeKey writes it: `manifests/layout` is `{tag: digest}` with sorted keys,
    2-space indent and no trailing newline; no tag files; every manifest by digest."""
    store = ctx.path("store")
    refs = _tagged_multi(ctx, ("v2", "v1"))
    task = g2(refs, PULL_SRC, f"local://{store}", auths=[_entry(ctx)])
    ctx.succeeded(ctx.run(task), "a pull of two tags")
    manifests = store / ctx.registry.host / ctx.namespace / "multi/manifests"
    data = ctx.read(manifests / LAYOUT_FILE, store, "the pull")
    digest = corpus("multi").root.digest
    expected = json.dumps({"v1": digest, "v2": digest}, indent=2, sort_keys=True).encode()
    ctx.expect_equal(data, expected, "the layout file's bytes")
    names = sorted(p.name for p in manifests.iterdir())
    by_digest = sorted({*corpus("multi").manifests, digest, LAYOUT_FILE})
    ctx.expect_equal(names, by_digest, "files in manifests/ (no tag files)")


@check
def hub_directory_l2(ctx: CaseContext) -> None:
    """In L2 Docker Hub's content goes under registry-1.docker.io/, the only directory
    KubeKey >= v4.0.4 looks up."""
    hub = {f"{HUB_L2}/library/app:v1": corpus("multi")}  # as KubeKey >= v4.0.4 writes it
    source = write_store(ctx.path("from"), hub, "L2")
    target = ctx.path("to")
    task = g2(["docker.io/library/app:v1"], f"local://{source}", f"local://{target}")
    ctx.succeeded(ctx.run(task), "a copy of a Docker Hub image")
    top = sorted(p.name for p in target.iterdir() if p.name != "blobs") if target.is_dir() else []
    ctx.expect_equal(top, [HUB_L2], "the store's registry directories")
    expect_root(ctx, target, "docker.io/library/app:v1", corpus("multi").root.data, "app:v1")
    expect_blobs(ctx, target, image_blobs(corpus("multi").root.data, corpus("multi")), "app:v1")


@check
def nothing_left_skips(ctx: CaseContext) -> None:
    """A `pattern` that leaves no image: that task is a skip, and the run goes on (exit 0, the
    next task's image written, nothing of the first)."""
    first = _pull(ctx, ["multi"], pattern="matches-nothing")
    then = _pull(ctx, ["single-oci"])
    ctx.succeeded(ctx.run([first, then]), "a pull whose pattern leaves nothing, then a pull")
    store = ctx.path("store")
    ctx.expect_equal(ctx.images(store), {ctx.registry.ref("single-oci")}, "images stored")
    expect_root(ctx, store, ctx.registry.ref("single-oci"), corpus("single-oci").root.data, "then")


@check
def g1_variable_names(ctx: CaseContext) -> None:
    """`.module.image.src.reference.*` (the names KubeKey's docs and its builtin push role
    use) mean the same as `.module.image.reference.*` in a G2 dest."""
    source = write_store(ctx.path("from"), {"quay.io/org/single:v1": corpus("single-oci")}, "L2")
    dest = f"oci://{ctx.registry.host}/{ctx.namespace}/" + (
        "{{ .module.image.src.reference.repository }}:{{ .module.image.src.reference.reference }}"
    )
    task = g2(["quay.io/org/single:v1"], f"local://{source}", dest, auths=[_entry(ctx)])
    ctx.succeeded(ctx.run(task), "a push with .module.image.src.reference.* in dest")
    found = ctx.registry.client.manifest_bytes(f"{ctx.namespace}/org/single", "v1")
    ctx.expect_equal(found, corpus("single-oci").root.data, f"{ctx.namespace}/org/single:v1")


@check
def registry_to_registry(ctx: CaseContext) -> None:
    """oci:// to oci://: the same algorithm, every digest kept."""
    dest = (
        f"oci://{ctx.registry.host}/{ctx.namespace}/{{{{ .module.image.reference.repository }}}}"
        ":{{ .module.image.reference.reference }}"
    )
    refs = [ctx.registry.ref("multi"), ctx.registry.ref("single-docker")]
    ctx.succeeded(ctx.run(g2(refs, PULL_SRC, dest, auths=[_entry(ctx)])), "registry to registry")
    for name in ("multi", "single-docker"):
        found = ctx.registry.client.manifest_bytes(f"{ctx.namespace}/seed/{name}", "v1")
        ctx.expect_equal(found, corpus(name).root.data, f"{ctx.namespace}/seed/{name}:v1")


@check
def bad_location(ctx: CaseContext, key: str) -> None:
    """A `src` or `dest` without a scheme: one line naming that argument, nothing written."""
    store = ctx.path("store")
    args = {"src": PULL_SRC, "dest": f"local://{store}"}
    args[key] = str(store) if key == "dest" else ctx.registry.ref("single-oci")
    task = g2([ctx.registry.ref("single-oci")], args["src"], args["dest"], auths=[_entry(ctx)])
    outcome = ctx.run(task)
    named = {"src": "source", "dest": "destination"}[key]
    ctx.failed_cleanly(outcome, rf"\b{key}\b|\b{named}\b")
    ctx.expect_equal(files(store), [], "files written")


@check
def layout_keeps_other_tags(ctx: CaseContext) -> None:
    """Tags are added to `manifests/layout`, never replacing others': runs pull v1, then v2,
    then two runs at once v3 and v4, into the same store."""
    store = ctx.path("store")
    tags = ("v1", "v2", "v3", "v4")
    tasks = [
        g2([ref], PULL_SRC, f"local://{store}", auths=[_entry(ctx)])
        for ref in _tagged_multi(ctx, tags)
    ]
    for tag, task in zip(tags[:2], tasks[:2], strict=True):
        ctx.succeeded(ctx.run(task), f"the pull of {tag}")
    ctx.succeeded_at_once([[task] for task in tasks[2:]], "pulls")
    layout = store / ctx.registry.host / ctx.namespace / "multi/manifests" / LAYOUT_FILE
    found = read_json(ctx.read(layout, store, "four pulls"))
    ctx.expect_equal(sorted(found), list(tags), "tags in the layout file")
