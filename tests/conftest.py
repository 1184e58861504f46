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


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `docker` skip where no Docker engine answers; with
    KKIMAGE_REQUIRE_DOCKER=1 (CI) that refuses the run instead."""
    marked = [item for item in items if item.get_closest_marker("docker")]
    if not marked:
        return
    from kkimage_fixtures.dockerd import REQUIRED, NoEngine, client, required

    try:
        client()
    except NoEngine as reason:
        if required():
            raise pytest.UsageError(f"{REQUIRED}=1: {reason}") from None
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=f"{reason} (tox -e docker starts one)"))
