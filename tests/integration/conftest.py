"""Real registries for the integration tests: the distribution binary, one per profile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.pki import Pki, generate
from kkimage_fixtures.registry import RunningRegistry, start_binary
from kkimage_fixtures.seed import RegistryClient, client_for, seed_corpus

pytestmark = pytest.mark.integration
CORPUS = images.corpus()


@dataclass
class Registry:
    """A running registry seeded with the corpus under `seed/`, plus helpers for tests."""

    running: RunningRegistry
    client: RegistryClient

    @property
    def host(self) -> str:
        return self.running.host

    def ref(self, name: str, tag: str = "v1", namespace: str = "seed") -> str:
        return f"{self.host}/{namespace}/{name}:{tag}"

    def auth(self, **overrides: object) -> dict:
        """The `auths` entry a user would write for this registry."""
        entry: dict = {"repo": self.host}
        if not self.running.tls:
            entry["plain_http"] = True
        if self.running.ca_file:
            entry["ca_file"] = self.running.ca_file
        if self.running.username:
            entry["username"] = self.running.username
            entry["password"] = self.running.password
        if self.running.cert_file:
            entry["cert_file"] = self.running.cert_file
            entry["key_file"] = self.running.key_file
        entry.update(overrides)
        return {k: v for k, v in entry.items() if v is not None}


def _registry(profile: str, tmp: Path, pki: Pki | None) -> Iterator[Registry]:
    with start_binary(profile, tmp / profile, pki=pki) as running:
        client = client_for(running)
        seed_corpus(client)
        yield Registry(running, client)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from _registry("plain", tmp_path_factory.mktemp("registries"), None)


@pytest.fixture(scope="session")
def basic(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Registry]:
    yield from _registry("basic", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Registry]:
    yield from _registry("tls", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def token(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Registry]:
    yield from _registry("token", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Registry]:
    yield from _registry("mtls", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture
def namespace() -> str:
    """A repository namespace no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"
