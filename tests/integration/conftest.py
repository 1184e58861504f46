"""Real registries for the integration tests: the distribution binary, one per profile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.pki import Pki, generate
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.target import Target

pytestmark = pytest.mark.integration
CORPUS = images.corpus()


def _registry(profile: str, tmp: Path, pki: Pki | None) -> Iterator[Target]:
    with start_binary(profile, tmp / profile, pki=pki) as running:
        yield Target.seeded(running)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from _registry("plain", tmp_path_factory.mktemp("registries"), None)


@pytest.fixture(scope="session")
def basic(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Target]:
    yield from _registry("basic", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Target]:
    yield from _registry("tls", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def token(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Target]:
    yield from _registry("token", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture(scope="session")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Target]:
    yield from _registry("mtls", tmp_path_factory.mktemp("registries"), pki)


@pytest.fixture
def namespace() -> str:
    """A repository namespace no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"
