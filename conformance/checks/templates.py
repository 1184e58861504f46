"""Destination templates (docs/spec.md section 5)."""

from __future__ import annotations

from ..context import CaseContext
from . import check
from .common import corpus, fill, pull_seeded, push


@check
def destination(
    ctx: CaseContext,
    dest: str,
    expected: str,
    variables: dict | None = None,
    name: str = "single-oci",
) -> None:
    """Push `name` with `dest` (`{host}` and `{ns}` filled in) and find it at `expected`."""
    store = pull_seeded(ctx, [name])
    dest, expected, variables = fill(dest, ctx), fill(expected, ctx), fill(variables or {}, ctx)
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.auth()]), variables), f"push to {dest}")
    path = expected.partition("/")[2]
    if "@" in path:
        repository, reference = path.split("@")
    else:
        repository, _, reference = path.rpartition(":")
    found = ctx.registry.client.manifest_bytes(repository, reference)
    ctx.expect(
        found == corpus(name).root.data,
        f"nothing (or something else) at {expected}",
        corpus(name).digest,
        "nothing" if found is None else "other bytes",
    )


@check
def undefined_variable(ctx: CaseContext) -> None:
    """An undefined variable fails the run before anything is pushed."""
    store = pull_seeded(ctx, ["single-oci"])
    dest = f"{ctx.registry.host}/{ctx.namespace}/" + "{{ .module.image.src.reference.repo }}:v1"
    because = r"undefined|not defined|no value|variable|\.module\.image\.src\.reference\.repo"
    ctx.failed_cleanly(ctx.run(push(store, dest, [ctx.registry.auth()])), because)
    catalog = ctx.registry.client.request("GET", "/v2/_catalog?n=1000", "registry:catalog:*")
    pushed = (
        [r for r in catalog.json().get("repositories", []) if r.startswith(ctx.namespace)]
        if catalog.status_code == 200
        else []
    )
    ctx.expect_equal(pushed, [], "repositories pushed despite the undefined variable")


@check
def destination_collision(ctx: CaseContext) -> None:
    store = pull_seeded(ctx, ["single-oci", "single-docker"])
    dest = f"{ctx.registry.host}/{ctx.namespace}/all:latest"
    outcome = ctx.run(push(store, dest, [ctx.registry.auth()]))
    ctx.failed_cleanly(outcome, r"all:latest|both|same destination|collision|conflict")
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/all"), [], "tags pushed")
