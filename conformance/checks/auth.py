"""Credentials: selection, challenges, scopes (docs/spec.md section 6)."""

from __future__ import annotations

from kkimage_fixtures import images
from kkimage_fixtures.addresses import LOOPBACK
from kkimage_fixtures.faultproxy import Fault

from ..context import CaseContext
from . import check
from .common import (
    CREDENTIALS,
    corpus,
    expect_pulled,
    expect_refused,
    expect_root,
    pull,
    pull_image,
    pull_seeded,
    push,
)

WRONG = "not-the-Password-42"


@check
def right_credentials(ctx: CaseContext, user: str | None = None) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth(user)])
    expect_pulled(ctx, store, outcome, f"a pull as {user or ctx.registry.running.username}")


@check
def wrong_password(ctx: CaseContext) -> None:
    """Refused with a message; the password appears nowhere; nothing is written."""
    store, outcome = pull_image(ctx, [ctx.registry.auth(password=WRONG)])
    expect_refused(ctx, store, outcome, CREDENTIALS, secrets=(WRONG,))


@check
def missing_credentials(ctx: CaseContext) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth(username=None, password=None)])
    expect_refused(ctx, store, outcome, CREDENTIALS)


@check
def prefix_entry_wins(ctx: CaseContext) -> None:
    """A path-prefix entry beats the host-only entry (with a wrong password)."""
    host_only = ctx.registry.auth(password=WRONG)
    prefix = ctx.registry.auth(repo=f"{ctx.registry.host}/seed")
    store, outcome = pull_image(ctx, [host_only, prefix])
    expect_pulled(ctx, store, outcome, "a pull where the seed/ prefix entry has the right password")


@check
def longer_prefix_wins(ctx: CaseContext) -> None:
    short = ctx.registry.auth(repo=f"{ctx.registry.host}/seed", password=WRONG)
    long = ctx.registry.auth(repo=f"{ctx.registry.host}/seed/single-oci")
    store, outcome = pull_image(ctx, [short, long])
    expect_pulled(ctx, store, outcome, "a pull where the longest prefix has the right password")


@check
def unmatched_entry_not_used(ctx: CaseContext, repo: str) -> None:
    """The right credentials in the only entry, which is for another registry (`repo`;
    `{hostname}` is this registry's host without its port), must not be used. The image is
    named with its port (even on a portless registry: an entry's port then has one to differ
    from)."""
    host = ctx.registry.host_with_port
    other = ctx.registry.auth(repo=repo.replace("{hostname}", host.rsplit(":", 1)[0]))
    store = ctx.path("store")
    # The CA trusted through the environment, as no entry matches: the refusal is then about
    # credentials only, in either format.
    task = pull(store, [f"{host}/seed/single-oci:v1"], [other])
    outcome = ctx.run(task, env=ctx.registry.ca_environment())
    expect_refused(ctx, store, outcome, CREDENTIALS)


@check
def credentials_stay_home(ctx: CaseContext) -> None:
    """An entry for another registry never sends its credentials here (seen at a proxy)."""
    proxy = ctx.proxy()
    entry = {
        "repo": "other-registry.example:5000",
        "username": "u",
        "password": "p",
        "plain_http": True,
    }
    store = ctx.path("store")
    reference = f"{proxy.host}/seed/single-oci:v1"
    task = pull(store, [reference], [entry, ctx.registry.proxy_auth(proxy)])
    ctx.succeeded(ctx.run(task))
    expect_root(ctx, store, reference, corpus("single-oci").root.data, "the pull")
    ctx.expect_equal(proxy.traffic.credentials, [], "requests that carried credentials")


@check
def redirect_carries_no_credentials(ctx: CaseContext, target_host: str) -> None:
    """Blob GETs redirected elsewhere (a blob store) get no Authorization. `target_host`:
    the host name the redirect names (`localhost`: another host; `{front}`: the same host
    name as the registry's front on another port, another origin all the same)."""
    front = ctx.proxy()
    storage = ctx.registry.proxy(portless=False)  # on a port of its own
    ctx.closing(storage.start(0, front.address if target_host == "{front}" else LOOPBACK))
    # the storage proxy answers anonymously where the registry would ask for credentials
    storage.upstream_auth = (ctx.registry.running.username, ctx.registry.running.password)
    target = f"{target_host.replace('{front}', front.address)}:{storage.port}"
    front.add(Fault("redirect", path="/blobs/sha256:", method="GET", target=target, times=None))
    store = ctx.path("store")
    task = pull(store, [f"{front.host}/seed/single-oci:v1"], [ctx.registry.proxy_auth(front)])
    ctx.succeeded(ctx.run(task), "a pull whose blobs are redirected")
    ctx.expect(
        storage.traffic.count("/blobs/", "GET") > 0,
        "the redirect was not followed",
        "blob GETs at the second host",
        0,
    )
    ctx.expect_equal(storage.traffic.credentials, [], "redirected requests with credentials")


@check
def pull_only_user_cannot_push(ctx: CaseContext) -> None:
    store = ctx.path("store")
    ctx.succeeded(
        ctx.run(pull(store, [ctx.registry.ref("single-oci")], [ctx.registry.auth("puller")]))
    )
    dest = f"{ctx.registry.host}/{ctx.namespace}/app"
    outcome = ctx.run(push(store, dest, [ctx.registry.auth("puller")]))
    ctx.failed_cleanly(outcome, CREDENTIALS + "|insufficient|scope")
    ctx.expect_equal(ctx.registry.client.tags(f"{ctx.namespace}/app"), [], "tags pushed")


@check
def push_with_credentials(ctx: CaseContext) -> None:
    store = pull_seeded(ctx, ["multi"])
    dest = f"{ctx.registry.host}/{ctx.namespace}/app"
    ctx.succeeded(ctx.run(push(store, dest, [ctx.registry.auth()])), "the push")
    ctx.expect_equal(
        ctx.registry.client.manifest_bytes(f"{ctx.namespace}/app", "v1"),
        corpus("multi").root.data,
        "the pushed root",
    )


@check
def anonymous_where_allowed(ctx: CaseContext) -> None:
    image = images.single("anonymous", seed=ctx.namespace)
    reference = ctx.registry.client.push(f"public/{ctx.namespace}", image)
    anonymous = ctx.registry.auth(username=None, password=None)
    store = ctx.path("store")
    ctx.succeeded(ctx.run(pull(store, [reference], [anonymous])), "an anonymous pull of public/")
    expect_root(ctx, store, reference, image.root.data, reference)
    private = ctx.path("private")
    outcome = ctx.run(pull(private, [ctx.registry.ref("single-oci")], [anonymous]))
    ctx.failed_cleanly(outcome, CREDENTIALS)
    ctx.expect(
        not ctx.manifest_file(private, ctx.registry.ref("single-oci")).exists(),
        "an anonymous pull of a private repository wrote an image",
        "nothing",
        "a tag",
    )
