"""Robustness through the fault proxy (docs/spec.md 2, 7)."""

from __future__ import annotations

import json
import signal
import time

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import Fault

from ..context import CORPUS, CaseContext
from ..stores import blob_names, damaged_blobs, stray_files
from . import check
from .common import DIGEST, expect_root, pull


def _big(ctx: CaseContext, size: int = 3 << 20):
    """A unique image with one large layer, pushed for this case only."""
    image = images.single(f"{ctx.namespace}-big", seed=ctx.namespace, layer_sizes=(size,))
    ctx.registry.client.push(f"{ctx.namespace}/big", image)
    layer = json.loads(image.root.data)["layers"][0]
    return image, layer


def _via(ctx: CaseContext, proxy, store, repository="seed/single-oci", tag="v1"):
    reference = f"{proxy.host}/{repository}:{tag}"
    return reference, pull(store, [reference], [ctx.registry.proxy_auth(proxy)])


def _intact(ctx: CaseContext, store) -> None:
    ctx.expect_equal(damaged_blobs(store), [], "blobs whose content is not their name")
    ctx.expect_equal(stray_files(store), [], "temporary or partial files left in the store")


@check
def corrupt_blob_refused(ctx: CaseContext) -> None:
    """A blob that never arrives intact: the pull fails and nothing broken is stored."""
    _, layer = _big(ctx, 256 << 10)
    proxy = ctx.proxy()
    proxy.add(Fault("corrupt", path=layer["digest"], method="GET", times=None))
    store = ctx.path("store")
    reference, task = _via(ctx, proxy, store, f"{ctx.namespace}/big")
    ctx.failed_cleanly(ctx.run(task), DIGEST)
    ctx.expect(
        layer["digest"] not in blob_names(store),
        "a corrupt blob was stored",
        "no such blob file",
        layer["digest"],
    )
    ctx.expect(
        not ctx.manifest_file(store, reference).exists(),
        "the image is in the store although a blob is bad",
        "no tag file",
        "a tag file",
    )
    _intact(ctx, store)


@check
def dropped_connection_resumes(ctx: CaseContext) -> None:
    """The connection drops in the middle of a blob: retried, resumed with Range."""
    image, layer = _big(ctx)
    proxy = ctx.proxy()
    proxy.add(Fault("cut", path=layer["digest"], method="GET", after_bytes=1 << 20))
    store = ctx.path("store")
    reference, task = _via(ctx, proxy, store, f"{ctx.namespace}/big")
    ctx.succeeded(ctx.run(task), "a pull with one dropped connection")
    expect_root(ctx, store, reference, image.root.data, "after a dropped connection")
    _intact(ctx, store)
    ranges = [header for path, header in proxy.traffic.ranges if layer["digest"] in path]
    ctx.expect(
        bool(ranges),
        "the transfer was restarted instead of resumed",
        "a GET with Range: bytes=N-",
        "no Range request",
    )


@check
def transient_status_retried(ctx: CaseContext, status: int, retry_after: str | None = None) -> None:
    proxy = ctx.proxy()
    proxy.add(
        Fault(
            "status",
            path="/manifests/v1",
            method="GET",
            status=status,
            retry_after=retry_after,
            times=2,
        )
    )
    proxy.add(
        Fault(
            "status",
            path="/blobs/sha256:",
            method="GET",
            status=status,
            retry_after=retry_after,
            times=1,
        )
    )
    store = ctx.path("store")
    reference, task = _via(ctx, proxy, store)
    started = time.monotonic()
    ctx.succeeded(ctx.run(task), f"a pull meeting {status} twice")
    elapsed = time.monotonic() - started
    expect_root(ctx, store, reference, CORPUS["single-oci"].root.data, f"after {status}")
    if retry_after:
        ctx.expect(
            elapsed >= 2 * float(retry_after),
            "Retry-After was not honoured",
            f">= {2 * float(retry_after)} s",
            f"{elapsed:.2f} s",
        )
    _intact(ctx, store)


@check
def persistent_status_fails(ctx: CaseContext) -> None:
    proxy = ctx.proxy()
    proxy.add(Fault("status", path="/manifests/", status=503, times=None))
    store = ctx.path("store")
    _, task = _via(ctx, proxy, store)
    ctx.failed_cleanly(ctx.run(task), r"503|unavailable")
    ctx.expect(
        proxy.traffic.count("/manifests/v1", "GET") >= 2,
        "503 should be retried",
        "several attempts",
        proxy.traffic.count("/manifests/v1", "GET"),
    )


@check
def interrupted_then_rerun(ctx: CaseContext) -> None:
    """Killed in the middle of a blob: no image in the store; the re-run completes it."""
    image, layer = _big(ctx)
    proxy = ctx.proxy()
    proxy.add(Fault("throttle", path=layer["digest"], rate=256 << 10, times=1))
    store = ctx.path("store")
    reference, task = _via(ctx, proxy, store, f"{ctx.namespace}/big")
    process = ctx.start([task])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proxy.traffic.sent(layer["digest"]) < 256 << 10:
        if process.poll() is not None:  # ended before the blob was under way: nothing to cut
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    ctx.expect(
        proxy.traffic.sent(layer["digest"]) >= 256 << 10,
        "the run ended before it was interrupted in the middle of the blob",
        "a blob transfer under way",
        f"exit {process.returncode}: {stderr.strip()[-300:]}",
    )
    ctx.expect(
        not ctx.manifest_file(store, reference).exists(),
        "an interrupted pull left a tag",
        "no tag file",
        "a tag file",
    )
    ctx.expect(
        layer["digest"] not in blob_names(store),
        "a partial blob has the blob's name",
        "no blob file",
        layer["digest"],
    )
    ctx.succeeded(ctx.run(task), "the re-run")
    expect_root(ctx, store, reference, image.root.data, "after the re-run")
    _intact(ctx, store)


@check
def concurrent_runs(ctx: CaseContext) -> None:
    """Two runs into one store at once both succeed and leave an intact store."""
    store = ctx.path("store")
    names = ["multi", "shared-a", "shared-b", "dockerlist"]
    task = pull(store, [ctx.registry.ref(n) for n in names], [ctx.registry.auth()])
    ctx.succeeded_at_once([[task], [task]], "runs")
    for name in names:
        ctx.expect(
            ctx.manifest_file(store, ctx.registry.ref(name)).is_file(),
            f"{name} is missing after two concurrent runs",
            "a tag file",
            "nothing",
        )
    _intact(ctx, store)


@check
def manifest_cut_retried(ctx: CaseContext) -> None:
    proxy = ctx.proxy()
    proxy.add(Fault("cut", path="/manifests/v1", method="GET", after_bytes=20))
    store = ctx.path("store")
    reference, task = _via(ctx, proxy, store, "seed/multi")
    ctx.succeeded(ctx.run(task), "a pull whose first manifest answer is cut short")
    expect_root(ctx, store, reference, CORPUS["multi"].root.data, "after a cut manifest")
