"""Bad input: refused with a message, nothing written (docs/spec.md 1, 3, 8)."""

from __future__ import annotations

from ..context import CaseContext
from ..stores import manifest_file
from . import check
from .common import expect_refused, fill, pull, pull_image, pull_seeded, push


@check
def bad_pull(ctx: CaseContext, args: dict) -> None:
    """`args` replaces the pull arguments; `{host}` is the registry. Nothing may be written."""
    store = ctx.path("store")
    arguments = fill(args, ctx)
    auths = [ctx.target.auth()] if ctx.target else None
    task = {"name": "bad pull", "image": {"pull": {"images_dir": str(store), **arguments}}}
    if auths is not None and "auths" not in arguments:
        task["image"]["pull"]["auths"] = auths
    expect_refused(ctx, store, ctx.run(task), "files written by refused input")
    ctx.expect(
        not (ctx.tmp / "etc").exists() and not (ctx.tmp.parent / "etc").exists(),
        "something was written outside the store",
        "nothing",
        "an etc/ directory",
    )


@check
def bad_push(ctx: CaseContext, args: dict) -> None:
    store = pull_seeded(ctx, ["single-oci"])
    arguments = fill(args, ctx)
    task = {
        "image": {"push": {"images_dir": str(store), "auths": [ctx.registry.auth()], **arguments}}
    }
    ctx.failed_cleanly(ctx.run(task))
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/app"), [], "tags pushed")


@check
def unknown_keys_warn(ctx: CaseContext) -> None:
    """Unknown keys are ignored (with a warning): the run still does its work."""
    store = ctx.path("store")
    task = pull(store, [ctx.registry.ref("single-oci")], [ctx.registry.auth()], colour="blue")
    ctx.succeeded(ctx.run(task), "a pull with an unknown key")
    ctx.expect(
        manifest_file(store, ctx.registry.ref("single-oci")).is_file(),
        "the image was not pulled",
        "a tag file",
        "nothing",
    )


@check
def unknown_image(ctx: CaseContext) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth()], "no-such-image")
    expect_refused(ctx, store, outcome, "files written for an image that does not exist")


@check
def bad_push_store(ctx: CaseContext) -> None:
    ctx.failed_cleanly(
        ctx.run(push(ctx.path("absent"), f"{ctx.registry.host}/x/y", [ctx.registry.auth()]))
    )


@check
def push_skips_broken_root(ctx: CaseContext) -> None:
    from kkimage_fixtures.stores import write_store

    from .common import corpus

    store = write_store(
        ctx.path("s"),
        {
            "quay.io/org/broken:v1": corpus("single-oci"),
            "quay.io/org/fine:v1": corpus("single-docker"),
        },
    )
    (store / "quay.io/org/broken/manifests/v1").write_bytes(corpus("single-oci").root.data[:50])
    dest = f"{ctx.registry.host}/{ctx.namespace}/" + "{{ .module.image.src.reference.repository }}"
    outcome = ctx.run(push(store, dest, [ctx.registry.auth()]))
    ctx.succeeded(outcome, "a push of a store with one broken root")
    ctx.expect(
        "broken" in outcome.stderr,
        "the broken root should be reported",
        "a warning naming it",
        outcome.stderr.strip()[-300:],
    )
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/org/fine"), ["v1"], "fine pushed")
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/org/broken"), [], "broken pushed")


@check
def templated_password_not_shown(ctx: CaseContext) -> None:
    secret = "Xy{{.nope}}Secret"
    store = ctx.path("store")
    task = pull(store, [ctx.registry.ref("single-oci")], [ctx.registry.auth(password=secret)])
    ctx.failed_cleanly(ctx.run(task), secrets=(secret, "Xy{{", "Secret"))
