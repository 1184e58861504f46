"""The docker launcher, the locally built registry images and the compose file, on a real
Docker engine: registries on 127.0.0.1 only, and nothing left behind, failed runs included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.dockerd import LABEL, VERSION_LABEL, client, sweep
from kkimage_fixtures.launchers import COMPOSE, DockerLauncher
from kkimage_fixtures.pki import Pki
from kkimage_fixtures.registry import (
    RunningRegistry,
    find_binary,
    free_port,
    registry_version,
    wait_ready,
)
from kkimage_fixtures.registry_image import build, linked_libraries
from kkimage_fixtures.target import Target
from tests.conformance.runner import PYTEST
from tests.helpers import ok, pull_task

pytestmark = [pytest.mark.docker, pytest.mark.integration]

TEST_IMAGE = "kkimage-registry:test"  # built from the registry binary the fixtures find
CORPUS = images.corpus()


@pytest.fixture(scope="module")
def engine():
    return client()


@pytest.fixture(scope="module")
def image(engine):
    return build(TEST_IMAGE, Path(shutil.which(find_binary()) or find_binary()), engine)


def _leftovers(engine) -> dict[str, set[str]]:
    """Everything a run could leave: containers, networks, volumes."""
    return {
        "containers": {c.id for c in engine.containers.list(all=True)},
        "networks": {n.id for n in engine.networks.list()},
        "volumes": {v.name for v in engine.volumes.list()},
    }


def test_the_image_holds_the_binary_and_the_libraries_it_links_only(engine, image, tmp_path):
    binary = Path(shutil.which(find_binary()) or find_binary())
    saved = tmp_path / "image.tar"
    with open(saved, "wb") as file:
        for chunk in image.save():
            file.write(chunk)
    with tarfile.open(saved) as archive:
        (entry,) = json.load(archive.extractfile("manifest.json"))
        (layer,) = entry["Layers"]  # FROM scratch: one layer, no base image
        with tarfile.open(fileobj=archive.extractfile(layer)) as tar:
            files = {m.name for m in tar if m.isfile()}
    expected = {"bin/registry"} | {str(p).lstrip("/") for p in linked_libraries(binary)}
    assert files == expected
    version = engine.containers.run(image.id, ["--version"], remove=True).decode().split()
    assert version[1:] == registry_version(binary).split()[1:]
    assert image.labels[VERSION_LABEL] == registry_version(binary)


def test_a_registry_publishes_on_loopback_only_and_goes_with_nothing_left(
    engine, image, pki, tmp_path, kk
):
    before = _leftovers(engine)
    launcher = DockerLauncher(image=TEST_IMAGE)
    registry = launcher.start("tls", tmp_path / "tls", pki)
    try:
        (container,) = engine.containers.list(filters={"label": f"{LABEL}={launcher.session}"})
        bindings = container.attrs["HostConfig"]["PortBindings"]
        assert [b["HostIp"] for b in bindings["5000/tcp"]] == ["127.0.0.1"]
        target = Target.seeded(registry)
        store = tmp_path / "store"
        ok(kk.run(pull_task(store, [target.ref("multi")], [target.auth()])))
        stored = store / registry.host / "seed/multi/manifests/v1"
        assert stored.read_bytes() == CORPUS["multi"].root.data
        assert (registry.data_dir / "docker/registry/v2/repositories/seed/multi").is_dir()
    finally:
        registry.stop()
    assert _leftovers(engine) == before


@pytest.mark.parametrize("how", ["fails", "SIGTERM", "SIGINT"])
def test_a_suite_run_leaves_no_container_network_or_volume(engine, image, tmp_path, how):
    """A run whose every case fails, and runs stopped by a signal while registries are up."""
    before = _leftovers(engine)
    command = [
        *PYTEST,
        "-q",
        "--registry-backend",
        "docker",
        "--registry-image",
        TEST_IMAGE,
        "--impl-cmd",
        "sh -c 'exit 1'" if how == "fails" else "sleep 60",
        "--impl-timeout",
        "120",
        "--profiles",
        "plain,tls",
        "-k",
        "PULL-001 or LAYOUT-005",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    if how == "fails":
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 1 and "failed" in output, output[-1500:]
    else:
        deadline = time.monotonic() + 120
        while not engine.containers.list(filters={"label": LABEL}):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        time.sleep(2)  # the seed is being pushed, the implementation is running
        process.send_signal(getattr(signal, how))
        process.communicate(timeout=60)
        assert process.returncode != 0
    assert _leftovers(engine) == before


def test_the_sweep_removes_what_a_killed_run_left(engine, image):
    ports = {"5000/tcp": ("127.0.0.1", None)}
    container = engine.containers.run(TEST_IMAGE, detach=True, labels={LABEL: "x"}, ports=ports)
    removed = sweep(engine)
    assert f"container {container.name}" in removed
    assert not engine.containers.list(all=True, filters={"label": LABEL})


PROFILES = ("plain", "basic", "tls", "mtls", "token")


def _compose_registry(profile: str, port: int, certs: Pki, users: dict, workdir: Path):
    """A compose service as a client sees it: where it is, its CA, its first user."""
    registry = RunningRegistry(profile, f"127.0.0.1:{port}", profile != "plain", workdir)
    if registry.tls:
        registry.ca_file = str(certs.ca_file)
    if profile in users:
        registry.username, registry.password = users[profile]
    if profile == "mtls":
        registry.cert_file, registry.key_file = str(certs.client_cert), str(certs.client_key)
    return registry


def test_the_compose_file_serves_every_profile(engine, image, tmp_path, kk):
    """registry-compose/ used as its header says, with Debian's docker-compose."""
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is not installed (apt-get install docker-compose)"
    directory = tmp_path / "compose"
    shutil.copytree(Path(str(COMPOSE)), directory)
    certs = Pki(directory / "certs")
    fixtures = [sys.executable, "-m"]
    subprocess.run([*fixtures, "kkimage_fixtures.pki", certs.directory], check=True)
    password = uuid.uuid4().hex
    htpasswd = [*fixtures, "kkimage_fixtures.htpasswd", directory / "auth/htpasswd"]
    subprocess.run([*htpasswd, "kkimage", password], check=True)
    ports = {p: free_port() for p in (*PROFILES, "token_server")}
    environment = {
        **os.environ,
        "REGISTRY_IMAGE": TEST_IMAGE,
        **{f"KKIMAGE_{p.upper()}_PORT": str(port) for p, port in ports.items()},
    }
    token_server = subprocess.Popen(
        [
            *fixtures,
            "kkimage_fixtures.tokenserver",
            "--certs",
            certs.directory,
            "--port",
            str(ports["token_server"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    project = [compose, "-p", f"kkimage-test-{uuid.uuid4().hex[:8]}"]
    project += [arg for p in PROFILES for arg in ("--profile", p)]
    before = _leftovers(engine)
    try:
        pusher = json.loads(token_server.stdout.readline())["users"]["pusher"]
        users = {"basic": ("kkimage", password), "token": ("pusher", pusher)}
        up = [*project, "up", "-d"]
        subprocess.run(up, cwd=directory, env=environment, check=True, capture_output=True)
        for profile in PROFILES:
            registry = _compose_registry(profile, ports[profile], certs, users, tmp_path / profile)
            wait_ready(registry)
            target = Target.seeded(registry)
            store = tmp_path / f"store-{profile}"
            ok(kk.run(pull_task(store, [target.ref("single-oci")], [target.auth()])))
            stored = store / registry.host / "seed/single-oci/manifests/v1"
            assert stored.read_bytes() == CORPUS["single-oci"].root.data, profile
    finally:
        down = [*project, "down", "-v", "--remove-orphans"]
        subprocess.run(down, cwd=directory, env=environment, capture_output=True)
        token_server.terminate()
        token_server.wait()
    assert _leftovers(engine) == before
