"""Launchers share registry-compose's files; registries never outlive their launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from kkimage_fixtures.launchers import (
    ExternalLauncher,
    ProfileUnsupported,
    compose_file,
    container_spec,
    make_launcher,
)
from kkimage_fixtures.registry import PROFILES, config_text, prepare_profile, start_binary


def test_compose_has_a_service_per_profile_using_the_shared_configs():
    services = compose_file()["services"]
    assert set(services) == set(PROFILES)
    for profile, service in services.items():
        assert f"./config/{profile}.yml:/etc/kkimage/config.yml:ro" in service["volumes"]
        assert config_text(profile).startswith("# Profile")


def test_docker_container_spec_maps_the_session_files(tmp_path, pki):
    registry = prepare_profile("basic", tmp_path / "basic", pki)
    spec = container_spec("basic", registry, 45678, session="s1")
    assert spec["image"] == os.environ.get("REGISTRY_IMAGE", "registry:2")
    assert spec["labels"]["org.kkimage.session"] == "s1"  # what the sweep finds
    assert spec["entrypoint"] == ["registry", "serve", "/etc/kkimage/config.yml"]
    assert spec["ports"] == {"5000/tcp": ("127.0.0.1", 45678)}
    binds = {v["bind"]: k for k, v in spec["volumes"].items()}
    assert binds["/certs"] == str(tmp_path / "basic/pki")
    assert binds["/auth/htpasswd"] == str(tmp_path / "basic/htpasswd")
    assert binds["/var/lib/registry"] == str(tmp_path / "basic/data")  # no volume to leave
    with open(binds["/etc/kkimage/config.yml"]) as config:
        assert config.read() == config_text("basic")


def test_docker_token_spec_points_at_the_sessions_token_server(tmp_path, pki):
    registry = prepare_profile("token", tmp_path / "token", pki)
    try:
        spec = container_spec("token", registry, 45679)
        assert spec["environment"]["REGISTRY_AUTH_TOKEN_REALM"] == registry.token_realm
    finally:
        registry.stop()


def test_external_launcher_offers_one_profile(tmp_path, pki):
    with start_binary("plain", tmp_path / "plain") as running:
        launcher = make_launcher("external", url=running.url)
        assert isinstance(launcher, ExternalLauncher) and launcher.profile == "plain"
        registry = launcher.start("plain", tmp_path, pki)
        assert registry.host == running.host and registry.process is None
        with pytest.raises(ProfileUnsupported, match="offers profile plain, not tls"):
            launcher.start("tls", tmp_path, pki)
    assert ExternalLauncher("https://h", "u", "p").profile == "basic"
    with pytest.raises(ValueError, match="unknown launcher"):
        make_launcher("podman")


def _reachable(url: str, ca: str | None) -> bool:
    try:
        requests.get(f"{url}/v2/", timeout=2, verify=ca or True)
        return True
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_registry_up_prints_one_json_line_and_never_leaves_an_orphan(tmp_path, sig):
    process = subprocess.Popen(
        [sys.executable, "-m", "kkimage", "registry", "up", "--profile", "tls", "--seed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    info = json.loads(line)
    assert {"url", "host", "ca_file", "images"} <= set(info)
    assert info["images"][0] == f"{info['host']}/seed/multi:v1"
    assert _reachable(info["url"], info["ca_file"])
    process.send_signal(sig)
    process.wait(timeout=20)
    assert process.stdout.read() == ""  # nothing but that one line
    deadline = time.monotonic() + 10
    while _reachable(info["url"], None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _reachable(info["url"], None)
