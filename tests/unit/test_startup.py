"""What the command's start-up does not import: each of these cost a small run a measurable
share of its time (docs/performance.md), and is imported only by the run that needs it."""

from __future__ import annotations

import json
import subprocess
import sys

# dataclasses (and inspect, which it imports): 35 classes cost 45 ms of start-up.
NOT_AT_START = ("dataclasses", "inspect", "jinja2", "requests", "subprocess", "urllib.request")

LIST_A_MISSING_STORE = """
import json, sys
from kkimage.cli import main
main(["ls", sys.argv[1]])
print(json.dumps(sorted(sys.modules)))
"""


def test_a_run_imports_none_of_what_it_does_not_need(tmp_path):
    command = [sys.executable, "-c", LIST_A_MISSING_STORE, str(tmp_path / "none")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    imported = set(json.loads(result.stdout))
    assert "kkimage.ops.transfer" in imported  # the whole command was loaded
    assert not imported.intersection(NOT_AT_START)
