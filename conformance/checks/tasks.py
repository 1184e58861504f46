"""Task files: shapes, order, variables and the G2 spellings (docs/spec.md section 1)."""

from __future__ import annotations

from ..context import CaseContext
from ..stores import files
from . import check
from .common import NOT_FOUND, SEED_DEST, corpus, expect_pulled, expect_root, pull


@check
def single_mapping_task(ctx: CaseContext) -> None:
    """A task file holding one task, a mapping, instead of a list of tasks."""
    store = ctx.path("store")
    task = pull(store, [ctx.registry.ref("single-oci")], [ctx.registry.auth()])
    expect_pulled(ctx, store, ctx.run(task, as_list=False), "a task file holding one mapping")


@check
def all_operations_in_order(ctx: CaseContext) -> None:
    """push and copy read what pull wrote: they only succeed when run after it."""
    store, other = ctx.path("store"), ctx.path("other")
    task = {
        "name": "all three",
        "image": {
            "copy": {
                "from": {"path": str(store), "manifests": [ctx.registry.ref("single-docker")]},
                "to": {"path": str(other)},
            },
            "push": {
                "images_dir": str(store),
                "auths": [ctx.registry.auth()],
                "dest": f"{ctx.registry.host}/{ctx.namespace}/" + SEED_DEST,
            },
            "pull": {
                "images_dir": str(store),
                "auths": [ctx.registry.auth()],
                "manifests": [ctx.registry.ref("single-docker")],
            },
        },
    }
    ctx.succeeded(ctx.run(task), "one task with copy, push and pull (written in that order)")
    image = corpus("single-docker")
    expect_root(ctx, other, ctx.registry.ref("single-docker"), image.root.data, "the copy")
    found = ctx.registry.client.manifest_bytes(f"{ctx.namespace}/seed/single-docker", "v1")
    ctx.expect(
        found == image.root.data,
        "the push did not happen after the pull",
        image.digest,
        "nothing pushed",
    )


@check
def first_failure_stops(ctx: CaseContext) -> None:
    store = ctx.path("store")
    failing = pull(store, [ctx.registry.ref("no-such-image")], [ctx.registry.auth()])
    later = pull(ctx.path("later"), [ctx.registry.ref("single-oci")], [ctx.registry.auth()])
    ctx.failed_cleanly(ctx.run([failing, later]), NOT_FOUND + "|no-such-image")
    ctx.expect_equal(files(ctx.path("later")), [], "files written by a task after the failure")


@check
def variables_in_arguments(ctx: CaseContext) -> None:
    task = pull(
        "{{ .workdir }}/images", ["{{ .mirror }}/seed/single-oci:{{ .tag }}"], [ctx.registry.auth()]
    )
    variables = {"workdir": str(ctx.tmp), "mirror": ctx.registry.host, "tag": "v1"}
    ctx.succeeded(ctx.run(task, variables), "a pull whose arguments use variables")
    path = ctx.manifest_file(ctx.path("images"), ctx.registry.ref("single-oci"))
    ctx.expect(path.is_file(), "the variables were not rendered", str(path), "nothing there")


@check
def g2_auth_spellings(ctx: CaseContext) -> None:
    entry = ctx.registry.auth(ca_file=None)
    entry["registry"] = entry.pop("repo")
    entry["skip_tls_verify"] = True
    store = ctx.path("store")
    outcome = ctx.run(pull(store, [ctx.registry.ref("single-oci")], [entry]))
    expect_pulled(ctx, store, outcome, "a pull with registry: and skip_tls_verify: in the entry")
