"""Every profile starts from the binary; skopeo (an independent client) reads a seeded image
with the credentials and CA the profile hands out, and is refused without them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kkimage_fixtures.registry import RunningRegistry, start_binary
from kkimage_fixtures.seed import client_for, seed_corpus


def skopeo_inspect(
    registry: RunningRegistry,
    reference: str,
    tmp: Path,
    *,
    creds: bool = True,
    ca: bool = True,
    client_cert: bool = True,
    user: str | None = None,
) -> subprocess.CompletedProcess:
    command = ["skopeo", "inspect", "--raw", "--retry-times=0"]
    if registry.tls:
        certs = tmp / "skopeo-certs"
        shutil.rmtree(certs, ignore_errors=True)
        certs.mkdir()
        if ca:
            shutil.copy(registry.ca_file, certs / "ca.crt")
        if client_cert and registry.cert_file:
            shutil.copy(registry.cert_file, certs / "client.cert")
            shutil.copy(registry.key_file, certs / "client.key")
        command.append(f"--cert-dir={certs}")
    else:
        command.append("--tls-verify=false")
    if creds and registry.username:
        name = user or registry.username
        command.append(f"--creds={name}:{registry.users.get(name, registry.password)}")
    command.append(f"docker://{reference}")
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["plain", "basic", "tls", "token", "mtls"], scope="module")
def seeded(request, tmp_path_factory, pki):
    profile = request.param
    with start_binary(profile, tmp_path_factory.mktemp(profile), pki=pki) as registry:
        yield registry, seed_corpus(client_for(registry))


def test_skopeo_reads_a_seeded_image_with_what_the_profile_hands_out(seeded, tmp_path):
    registry, references = seeded
    assert len(references) == 9
    result = skopeo_inspect(registry, references[0], tmp_path)
    assert result.returncode == 0, result.stderr
    assert b'"manifests"' in result.stdout.encode()


def test_skopeo_is_refused_without_them(seeded, tmp_path):
    registry, references = seeded
    if registry.profile == "plain":  # plain HTTP: a client insisting on TLS gets nowhere
        command = ["skopeo", "inspect", "--raw", "--retry-times=0", f"docker://{references[0]}"]
        assert subprocess.run(command, capture_output=True, timeout=60).returncode != 0
        return
    if registry.profile in ("basic", "token"):
        assert skopeo_inspect(registry, references[0], tmp_path, creds=False).returncode != 0
    assert skopeo_inspect(registry, references[0], tmp_path, ca=False).returncode != 0
    if registry.profile == "mtls":
        result = skopeo_inspect(registry, references[0], tmp_path, client_cert=False)
        assert result.returncode != 0


def test_info_has_what_each_profile_needs(seeded):
    registry, _ = seeded
    info = registry.info()
    assert info["url"].startswith("http://" if registry.profile == "plain" else "https://")
    assert info["host"] == info["url"].split("://")[1]
    assert ("username" in info) == (registry.profile in ("basic", "token"))
    assert ("cert_file" in info) == (registry.profile == "mtls")
    assert ("ca_file" in info) == (registry.profile != "plain")
