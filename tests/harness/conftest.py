from __future__ import annotations

import pytest

from kkimage_fixtures.pki import Pki, generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate(tmp_path_factory.mktemp("pki"))
