"""Real registries for the integration tests: the distribution binary, one per profile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.pki import Pki
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.target import Target
from tests.helpers import ok, pull_task

CORPUS = images.corpus()


def _profile(profile: str):
    """A session-scoped fixture: a registry of `profile`, seeded, stopped at the end."""

    @pytest.fixture(scope="session", name=profile)
    def fixture(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Target]:
        workdir = tmp_path_factory.mktemp(profile)
        with start_binary(profile, workdir, pki=pki) as running:
            yield Target.seeded(running)

    return fixture


plain, basic, tls, token, mtls = map(_profile, ("plain", "basic", "tls", "token", "mtls"))


@pytest.fixture
def namespace() -> str:
    """A repository namespace no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def pulled(kk, plain, tmp_path: Path) -> Path:
    """A store holding the whole corpus, pulled without a filter."""
    store = tmp_path / "pulled"
    ok(kk.run(pull_task(store, [plain.ref(n) for n in CORPUS], [plain.auth()])))
    return store
