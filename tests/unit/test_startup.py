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


PARSE_A_PUSH = """
import json, sys
from kkimage.task import parse_tasks
dest = sys.argv[1]
parse_tasks([{"image": {"push": {"images_dir": "/none", "dest": dest}}}], {}, print)
print(json.dumps(sorted(sys.modules)))
"""


def imported_parsing(dest: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PARSE_A_PUSH, dest], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_a_destination_template_without_statements_needs_no_jinja2():
    usual = "hub.local/{{ .module.image.src.reference.repository | lower }}:v1"
    assert "jinja2" not in imported_parsing(usual)
    assert "jinja2" in imported_parsing("hub.local/{{ if true }}x{{ end }}:v1")
