"""Failures a real registry does not produce on demand, injected by the fault proxy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from kkimage.auth import Authenticator
from kkimage.credentials import Credentials
from kkimage.registry import Registry
from kkimage.transport import Endpoint, RetryPolicy, Transport
from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import Fault, FaultProxy
from kkimage_fixtures.stores import write_store
from tests.helpers import failed, ok, pull_task, push_task

from .conftest import CORPUS


@pytest.fixture
def proxy(plain):
    with FaultProxy(plain.running.url) as running:
        yield running


@pytest.fixture
def big(plain, namespace):
    """A unique image with one 3 MiB layer, pushed for this test only."""
    image = images.single(f"{namespace}-big", seed=namespace, layer_sizes=(3 << 20,))
    plain.client.push(f"{namespace}/big", image)
    layer = json.loads(image.root.data)["layers"][0]
    return image, layer, f"{namespace}/big:v1"


def pull_via(proxy, store, *names, **extra):
    auths = [{"repo": proxy.host, "plain_http": True}]
    return pull_task(store, [f"{proxy.host}/{n}" for n in names], auths, **extra)


def no_partial_files(store):
    return not [p for p in store.rglob("*") if p.is_file() and p.name.startswith(".")]


def test_dropped_connection_is_resumed_with_range(kk, proxy, store, big):
    _, layer, name = big
    proxy.add(Fault("cut", path=layer["digest"], method="GET", after_bytes=1 << 20))
    ok(kk.run(pull_via(proxy, store, name)))
    assert (store / "blobs" / layer["digest"]).stat().st_size == layer["size"]
    assert proxy.traffic.count(layer["digest"], "GET") == 2
    # resumed where it stopped: the blob crossed the proxy once, not one and a half times
    assert proxy.traffic.sent(layer["digest"]) == layer["size"]
    ok(kk("verify", store))


def test_a_resume_answered_with_the_whole_blob_drops_what_was_already_received(
    kk, proxy, store, big
):
    """A server (or a cache in front of it) that ignores Range answers 200 from the start."""
    _, layer, name = big
    proxy.add(Fault("cut", path=layer["digest"], method="GET", after_bytes=(1 << 20) + 123))
    proxy.add(Fault("no-range", path=layer["digest"], method="GET"))
    ok(kk.run(pull_via(proxy, store, name)))
    assert proxy.traffic.count(layer["digest"], "GET") == 2
    assert [r for p, r in proxy.traffic.ranges if layer["digest"] in p]  # a resume was asked
    assert proxy.traffic.sent(layer["digest"]) > layer["size"]  # and answered from the start
    ok(kk("verify", store))


def test_a_registry_sending_more_than_the_blob_is_refused_without_writing_past_it(
    kk, proxy, store, big
):
    _, layer, name = big
    proxy.add(Fault("oversize", path=layer["digest"], method="GET", extra=64 << 20, times=None))
    failed(kk.run(pull_via(proxy, store, name)), layer["digest"], "announced")
    assert not (store / "blobs" / layer["digest"]).exists() and no_partial_files(store)
    # refused on the announcement: the 64 MiB more were never read (the proxy could not
    # send them all)
    assert proxy.traffic.sent(layer["digest"]) < 2 * layer["size"] + (16 << 20)


def test_an_unreachable_registry_costs_the_policys_attempts_once(kk, store):
    """One retry budget per request: the attempts of the policy (5), not a product of
    nested loops."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    connections = []

    def refuse():
        while True:
            try:
                sock, _ = server.accept()
            except OSError:
                return
            connections.append(1)
            sock.close()  # before any answer: a registry that is not there

    threading.Thread(target=refuse, daemon=True).start()
    host = f"127.0.0.1:{server.getsockname()[1]}"
    auths = [{"repo": host, "plain_http": True}]
    source = write_store(store.parent / "source", {"quay.io/org/app:v1": CORPUS["multi"]})
    try:
        failed(kk.run(pull_task(store, [f"{host}/app:v1"], auths)), "after 5 attempts")
        assert len(connections) == 5
        connections.clear()
        failed(kk.run(push_task(source, f"{host}/mirror/app", auths)), "after 5 attempts")
        assert len(connections) == 5
    finally:
        server.close()


def test_a_manifest_cut_short_is_fetched_again(kk, proxy, store):
    proxy.add(Fault("cut", path="/manifests/v1", method="GET", after_bytes=20))
    ok(kk.run(pull_via(proxy, store, "seed/multi:v1")))
    assert proxy.traffic.count("/manifests/v1", "GET") == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_errors_are_retried(kk, proxy, store, status):
    proxy.add(Fault("status", path="/manifests/v1", status=status, times=2))
    proxy.add(Fault("status", path="/blobs/", method="GET", status=status, times=2))
    ok(kk.run(pull_via(proxy, store, "seed/single-oci:v1")))
    assert proxy.traffic.count("/manifests/v1", "GET") == 3


def test_429_honours_retry_after(kk, proxy, store):
    proxy.add(Fault("status", path="/manifests/v1", status=429, retry_after="2"))
    started = time.monotonic()
    ok(kk.run(pull_via(proxy, store, "seed/single-oci:v1")))
    assert time.monotonic() - started >= 2
    assert proxy.traffic.count("/manifests/v1", "GET") == 2


def test_persistent_server_errors_end_in_one_line(kk, proxy, store):
    proxy.add(Fault("status", path="/manifests/v1", status=503, times=None))
    failed(kk.run(pull_via(proxy, store, "seed/single-oci:v1")), "seed/single-oci:v1", "503")
    assert proxy.traffic.count("/manifests/v1", "GET") == 5


def test_corrupted_once_is_downloaded_again(kk, proxy, store, big):
    _, layer, name = big
    proxy.add(Fault("corrupt", path=layer["digest"], method="GET"))
    ok(kk.run(pull_via(proxy, store, name)))
    ok(kk("verify", store))


def test_corrupted_every_time_fails_and_leaves_nothing_broken(kk, proxy, store, big):
    image, layer, name = big
    proxy.add(Fault("corrupt", path=layer["digest"], method="GET", times=None))
    failed(kk.run(pull_via(proxy, store, name)), name, layer["digest"], "hashes to")
    assert not (store / "blobs" / layer["digest"]).exists()
    # the config arrived whole: kept under its name for the next run, not as a temporary file
    config = json.loads(image.root.data)["config"]["digest"]
    assert (store / "blobs" / config).exists()
    assert no_partial_files(store)
    assert not (store / proxy.host / name.replace(":v1", "") / "manifests/v1").exists()


def test_redirected_blobs_get_no_credentials(kk, basic, plain, store):
    with (
        FaultProxy(basic.running.url, verify=basic.running.ca_file) as front,
        FaultProxy(plain.running.url) as cdn,
    ):
        # plain holds the same seeded blobs: it plays the storage backend a registry redirects to
        front.add(
            Fault("redirect", path="/blobs/sha256:", method="GET", target=f"{cdn.host}", times=None)
        )
        auth = basic.auth(repo=front.host, plain_http=True, ca_file=None)
        ok(kk.run(pull_task(store, [f"{front.host}/seed/single-oci:v1"], [auth])))
        assert cdn.traffic.count("/blobs/sha256:", "GET") == len(CORPUS["single-oci"].blobs)
        assert cdn.traffic.credentials == []
        assert front.traffic.credentials  # the registry itself did get them


def test_interrupted_run_then_rerun(kk, proxy, store, big):
    _, layer, name = big
    proxy.add(Fault("throttle", path=layer["digest"], rate=256 << 10, times=1))
    task_file = kk.task_file(pull_via(proxy, store, name))
    command = [sys.executable, "-m", "kkimage", "run", str(task_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proxy.traffic.sent(layer["digest"]) < 256 << 10:
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (store / proxy.host / f"{name.split(':')[0]}/manifests/v1").exists()
    assert not (store / "blobs" / layer["digest"]).exists()
    ok(kk.run(pull_via(proxy, store, name)))
    assert no_partial_files(store)
    ok(kk("verify", store))


def test_two_runs_into_one_store_at_once(kk, plain, store):
    names = ("multi", "shared-a", "shared-b", "dockerlist")
    task_file = kk.task_file(pull_task(store, [plain.ref(n) for n in names], [plain.auth()]))
    command = [sys.executable, "-m", "kkimage", "run", str(task_file)]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
    ok(kk("verify", store))
    assert no_partial_files(store)


def test_connections_are_kept_alive(kk, proxy, store):
    """One connection per thread serves every request of a pull (docs/performance.md)."""
    names = ("seed/multi:v1", "seed/shared-a:v1", "seed/shared-b:v1", "seed/dockerlist:v1")
    ok(kk.run(pull_via(proxy, store, *names), "--jobs", "1"))
    requests = sum(proxy.traffic.requests.values())
    assert requests > 30
    # one job: an image thread (manifests) and a blob thread (blobs)
    assert proxy.traffic.connections <= 2, (proxy.traffic.connections, requests)


def test_a_blobs_connection_is_free_once_its_body_has_arrived(plain):
    """A blob holds one of its registry's connection slots while its bytes arrive, and gives
    it back with its last byte: not when the caller has written it to disk (the fsync of a
    big layer would keep a connection idle)."""
    layer = max(CORPUS["multi"].blobs.values(), key=lambda blob: blob.size)
    endpoint = Endpoint(plain.host, plain_http=True)
    transport = Transport(retry=RetryPolicy(attempts=1))
    slots = threading.BoundedSemaphore(1)  # a second release would raise
    auth = Authenticator(transport, endpoint, Credentials())
    registry = Registry(endpoint.host, endpoint, auth, transport, slots)
    descriptor = {"digest": layer.digest, "size": layer.size}
    with registry.open_blob("seed/multi", descriptor) as reader:
        assert not slots.acquire(blocking=False)  # held while the body is read
        assert reader.read_all() == layer.data
        assert slots.acquire(blocking=False)  # free, the reader still open
        slots.release()
    assert slots.acquire(blocking=False)  # closing did not give it back twice
