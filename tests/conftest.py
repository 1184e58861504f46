from pathlib import Path

import pytest

from tests.helpers import Kkimage


@pytest.fixture
def kk(tmp_path: Path) -> Kkimage:
    return Kkimage(tmp_path)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory):
    """The session's TLS material (a CA, server, client and token certificates)."""
    from kkimage_fixtures.pki import generate  # needs cryptography: only where it is used

    return generate(tmp_path_factory.mktemp("pki"))
