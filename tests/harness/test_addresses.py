"""Portless registries and proxies (KubeKey >= v4.0.4 refuses host:port names): each on an
address of its own at the scheme's default port, trusted by skopeo through the session CA,
with the other scheme's port held shut; the suite passes its port-sensitive cases there."""

from __future__ import annotations

import json
import os
import socket

import pytest
import requests

from kkimage_fixtures.addresses import POOL, reserve_address
from kkimage_fixtures.faultproxy import FaultProxy
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.seed import SEED, client_for, seed_corpus
from tests.conformance.runner import statuses, suite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="binding ports 80 and 443 needs root")


def _refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) != 0


def test_a_portless_registry_is_named_without_a_port_and_holds_its_address(tmp_path, pki):
    registry = start_binary("tls", tmp_path / "tls", pki=pki, portless=True)
    try:
        assert registry.host in POOL and registry.url == f"https://{registry.host}"
        seed_corpus(client_for(registry))
        answer = requests.get(
            f"{registry.url}/v2/{SEED}/single-oci/manifests/v1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            verify=registry.ca_file,
            timeout=10,
        )
        assert answer.status_code == 200 and json.loads(answer.content)["layers"]
        assert _refused(registry.host, 80)  # held: nobody listens, nobody else binds it
        with pytest.raises(OSError):
            socket.create_server((registry.host, 80))
    finally:
        registry.stop()
    address, held = reserve_address(443)  # the pool serves the next server
    held.close()
    assert address in POOL


def test_a_portless_fault_proxy_forwards_on_port_80(tmp_path, pki):
    registry = start_binary("plain", tmp_path / "plain", pki=pki, portless=True)
    try:
        seed_corpus(client_for(registry))
        with FaultProxy(registry.url, portless=True) as proxy:
            assert proxy.host in POOL and proxy.host != registry.host
            answer = requests.get(f"http://{proxy.host}/v2/{SEED}/multi/tags/list", timeout=10)
            assert answer.json()["tags"] == ["v1"]
            assert _refused(proxy.host, 443)
    finally:
        registry.stop()


@pytest.mark.integration
def test_the_port_sensitive_cases_pass_on_portless_registries(tmp_path):
    ids = "LAYOUT-010 or AUTH-007 or AUTH-009 or AUTH-014 or TLS-008 or TLS-009 or TLS-010"
    process, results = suite(tmp_path, "--portless", "--impl-formats", "g2", "-n", "2", "-k", ids)
    found = statuses(results)
    assert len(found) == 7 and set(found.values()) == {"pass"}, process.stdout[-3000:]
