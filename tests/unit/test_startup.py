"""What the command's start-up does not import: each of these cost a small run a measurable
share of its time (docs/performance.md), and is imported only by the run that needs it."""

from __future__ import annotations

import json
import subprocess
import sys

# dataclasses (and inspect, which it imports): 35 classes cost 45 ms of start-up.
NOT_AT_START = ("dataclasses", "inspect", "jinja2", "requests", "subprocess", "urllib.request")

LIST_A_MISSING_STORE = """
from kkimage.cli import main
main(["ls", sys.argv[1]])
"""

PARSE_A_PUSH = """
from kkimage.task import parse_tasks
parse_tasks([{"image": {"push": {"images_dir": "/none", "dest": sys.argv[1]}}}], {}, print)
"""


def imported_by(script: str, argument: str) -> set[str]:
    """The modules loaded once `script` has run with `argument` in a new interpreter."""
    code = f"import json, sys\n{script}\nprint(json.dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", code, argument]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_a_run_imports_none_of_what_it_does_not_need(tmp_path):
    imported = imported_by(LIST_A_MISSING_STORE, str(tmp_path / "none"))
    assert "kkimage.ops.transfer" in imported  # the whole command was loaded
    assert not imported.intersection(NOT_AT_START)


def test_a_destination_template_without_statements_needs_no_jinja2():
    usual = "hub.local/{{ .module.image.src.reference.repository | lower }}:v1"
    assert "jinja2" not in imported_by(PARSE_A_PUSH, usual)
    assert "jinja2" in imported_by(PARSE_A_PUSH, "hub.local/{{ if true }}x{{ end }}:v1")
