from pathlib import Path

import pytest

from tests.helpers import Kkimage


@pytest.fixture
def kk(tmp_path: Path) -> Kkimage:
    return Kkimage(tmp_path)
