"""Bad input: refused with a message, nothing written (docs/spec.md 1, 3, 8)."""

from __future__ import annotations

from ..context import CaseContext
from . import check
from .common import NOT_FOUND, expect_refused, fill, pull, pull_image, pull_seeded, push


@check
def bad_pull(ctx: CaseContext, args: dict, because: str) -> None:
    """`args` replaces the pull arguments; `{host}` is the registry. Nothing may be written,
    and the error names `because` (a regular expression)."""
    store = ctx.path("store")
    arguments = fill(args, ctx)
    auths = [ctx.target.auth()] if ctx.target else None
    task = {"name": "bad pull", "image": {"pull": {"images_dir": str(store), **arguments}}}
    if auths is not None and "auths" not in arguments:
        task["image"]["pull"]["auths"] = auths
    expect_refused(ctx, store, ctx.run(task), because, "files written by refused input")
    ctx.expect(
        not (ctx.tmp / "etc").exists() and not (ctx.tmp.parent / "etc").exists(),
        "something was written outside the store",
        "nothing",
        "an etc/ directory",
    )


@check
def bad_push(ctx: CaseContext, args: dict, because: str) -> None:
    store = pull_seeded(ctx, ["single-oci"])
    arguments = fill(args, ctx)
    task = {
        "image": {"push": {"images_dir": str(store), "auths": [ctx.registry.auth()], **arguments}}
    }
    ctx.failed_cleanly(ctx.run(task), because)
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/app"), [], "tags pushed")


@check
def no_implicit_latest(ctx: CaseContext) -> None:
    """A reference without tag or digest is refused, although the registry has `latest`:
    an implementation that assumes `latest` would pull it."""
    from kkimage_fixtures import images

    image = images.single("latest", seed=ctx.namespace)
    ctx.registry.client.push(f"{ctx.namespace}/app", image, tag="latest")
    store = ctx.path("store")
    task = pull(store, [f"{ctx.registry.host}/{ctx.namespace}/app"], [ctx.registry.auth()])
    expect_refused(ctx, store, ctx.run(task), r"tag|digest|latest|reference")


@check
def unknown_keys_warn(ctx: CaseContext) -> None:
    """Unknown keys are ignored (with a warning): the run still does its work."""
    store = ctx.path("store")
    task = pull(store, [ctx.registry.ref("single-oci")], [ctx.registry.auth()], colour="blue")
    ctx.succeeded(ctx.run(task), "a pull with an unknown key")
    ctx.expect(
        ctx.manifest_file(store, ctx.registry.ref("single-oci")).is_file(),
        "the image was not pulled",
        "a tag file",
        "nothing",
    )


@check
def unknown_image(ctx: CaseContext) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth()], "no-such-image")
    what = "files written for an image that does not exist"
    expect_refused(ctx, store, outcome, NOT_FOUND, what)


@check
def bad_push_store(ctx: CaseContext) -> None:
    outcome = ctx.run(push(ctx.path("absent"), f"{ctx.registry.host}/x/y", [ctx.registry.auth()]))
    ctx.failed_cleanly(outcome, NOT_FOUND + "|absent")


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
    because = r"password|template|401|unauthori[sz]ed|credential"
    ctx.failed_cleanly(ctx.run(task), because, secrets=(secret, "Xy{{", "Secret"))
