"""Each fault does what it says, observed with plain requests through the proxy."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from kkimage_fixtures import images, serving
from kkimage_fixtures.faultproxy import Fault, FaultProxy
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.seed import RegistryClient

IMAGE = images.single("proxied", seed="proxied", layer_sizes=(256 << 10,))
LAYER = max(IMAGE.blobs.values(), key=lambda b: b.size)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    with start_binary("plain", tmp_path_factory.mktemp("plain")) as registry:
        RegistryClient(registry.url).push("p/app", IMAGE)
        yield registry


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream.url) as running:
        yield running


def get(proxy, path, **kwargs):
    return requests.get(proxy.url + path, timeout=30, **kwargs)


BLOB = f"/v2/p/app/blobs/{LAYER.digest}"


def test_passes_through_and_counts(proxy):
    assert get(proxy, BLOB).content == LAYER.data
    assert proxy.traffic.count("/blobs/", "GET") == 1
    assert proxy.traffic.sent(LAYER.digest) == LAYER.size


def test_corrupt_keeps_the_length_and_changes_the_bytes(proxy):
    proxy.add(Fault("corrupt", path=LAYER.digest))
    body = get(proxy, BLOB).content
    assert len(body) == LAYER.size and body != LAYER.data
    assert get(proxy, BLOB).content == LAYER.data  # times=1


def test_oversize_sends_more_than_the_body_and_announces_it(proxy):
    proxy.add(Fault("oversize", path=LAYER.digest, extra=1000))
    response = get(proxy, BLOB)
    assert response.headers["Content-Length"] == str(LAYER.size + 1000)
    assert response.content == LAYER.data + bytes(1000)


def test_cut_closes_mid_body(proxy):
    proxy.add(Fault("cut", path=LAYER.digest, after_bytes=1000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(proxy, BLOB).content  # noqa: B018
    assert proxy.traffic.sent(LAYER.digest) == 1000


def test_status_n_times_with_retry_after(proxy):
    proxy.add(Fault("status", path="/manifests/", status=429, retry_after="3", times=2))
    accept = {"Accept": images.OCI_MANIFEST}
    first = get(proxy, "/v2/p/app/manifests/v1", headers=accept)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert get(proxy, "/v2/p/app/manifests/v1", headers=accept).status_code == 429
    assert get(proxy, "/v2/p/app/manifests/v1", headers=accept).content == IMAGE.root.data


def test_throttle(proxy):
    proxy.add(Fault("throttle", path=LAYER.digest, rate=512 << 10))
    started = time.monotonic()
    assert get(proxy, BLOB).content == LAYER.data
    assert time.monotonic() - started >= 0.4  # 256 KiB at 512 KiB/s


def test_delay_adds_latency_to_each_request_and_connections_are_counted(proxy):
    proxy.add(Fault("delay", path="/v2/", seconds=0.2, times=2))
    with requests.Session() as session:  # one kept connection for three requests
        started = time.monotonic()
        for _ in range(3):
            assert session.get(proxy.url + BLOB, timeout=30).content == LAYER.data
        assert 0.4 <= time.monotonic() - started < 1.5  # two delayed, the third not
    assert get(proxy, BLOB).ok
    assert proxy.traffic.connections == 2


def test_redirect_and_credential_record(proxy, upstream):
    proxy.add(Fault("redirect", path=LAYER.digest, target=upstream.host))
    answer = get(proxy, BLOB, allow_redirects=False, headers={"Authorization": "Basic eDp5"})
    assert answer.status_code == 307
    assert answer.headers["Location"] == f"http://{upstream.host}{BLOB}"
    assert proxy.traffic.credentials == [("GET", BLOB, "Basic")]


def test_uploads_go_through_with_locations_rewritten(proxy):
    client = RegistryClient(proxy.url)
    client.push("p/copy", IMAGE)
    assert proxy.traffic.received("/blobs/uploads/") == sum(b.size for b in IMAGE.blobs.values())
    assert RegistryClient(proxy.url).manifest_bytes("p/copy", "v1") == IMAGE.root.data


def test_unknown_fault_kind():
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("explode")


def test_throttle_applies_to_uploads_too(proxy):
    start = requests.post(proxy.url + "/v2/p/up/blobs/uploads/", timeout=30)
    proxy.add(Fault("throttle", path="/blobs/uploads/", method="PATCH", rate=512 << 10))
    started = time.monotonic()
    answer = requests.patch(
        start.headers["Location"],
        data=b"x" * (256 << 10),
        timeout=30,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 202
    assert time.monotonic() - started >= 0.4  # 256 KiB at 512 KiB/s
    assert proxy.traffic.received("/blobs/uploads/") == 256 << 10


def test_forward_proxy_mode(proxy, upstream):
    answer = requests.get(f"{upstream.url}{BLOB}", proxies={"http": proxy.url}, timeout=30)
    assert answer.content == LAYER.data
    assert proxy.traffic.forwarded == 1 and proxy.traffic.count(LAYER.digest, "GET") == 1


def test_repeated_headers_reach_the_registry_joined(proxy):
    """skopeo sends one Accept line per media type: all of them must count."""
    import http.client

    host, port = proxy.host.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("GET", f"/v2/p/app/manifests/{IMAGE.digest}")
    connection.putheader("Accept", images.DOCKER_MANIFEST)
    connection.putheader("Accept", images.OCI_MANIFEST)
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 200 and answer.read() == IMAGE.root.data


def test_small_answers_are_not_held_back_on_a_kept_connection(proxy, upstream):
    """50 small requests on one kept-alive connection: through the proxy, within a small
    factor of the same requests straight to the registry. Without TCP_NODELAY on the
    proxy's sockets each answer waited about 40 ms for the client's delayed ACK."""

    def timed(base: str) -> float:
        with requests.Session() as session:
            session.get(base + "/v2/", timeout=30)  # the connection, opened once
            started = time.monotonic()
            for _ in range(50):
                response = session.get(f"{base}/v2/p/app/tags/list", timeout=30)
                assert response.status_code == 200
            return time.monotonic() - started

    direct, proxied = timed(upstream.url), timed(proxy.url)
    # Held back, each answer costs about 40 ms more: 2 s for 50, far past this bound.
    assert proxied < 3 * direct + 0.5, f"direct {direct:.3f} s, through the proxy {proxied:.3f} s"


def test_a_burst_of_connections_waits_for_the_accepting_thread(upstream, monkeypatch):
    """32 connections opened while the proxy's accepting thread is busy (as when it waits for
    the GIL behind 16 streaming handlers) all complete, and are served once it accepts.
    With socketserver's default backlog of 5 the kernel dropped the SYNs past the sixth,
    and each of those clients waited a second for its SYN to be sent again."""
    busy = threading.Event()
    accept = serving._Server.get_request

    def accept_when_free(server):
        busy.wait(30)
        return accept(server)

    monkeypatch.setattr(serving._Server, "get_request", accept_when_free)
    with FaultProxy(upstream.url) as proxy:
        opened: list[socket.socket] = []
        try:
            for _ in range(32):  # a connect past a full backlog times out: no SYN-ACK
                opened.append(socket.create_connection((proxy.address, proxy.port), timeout=0.5))
        finally:
            busy.set()
        for connection in opened:
            connection.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            connection.settimeout(30)
            assert connection.recv(12) == b"HTTP/1.1 200"
            connection.close()
