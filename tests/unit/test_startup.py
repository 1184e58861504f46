"""What the command's start-up does not import: each of these cost a small run a measurable
share of its time (docs/performance.md), and is imported only by the run that needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kkimage.cli import build_parser

# dataclasses (and inspect, which it imports): 35 classes cost 45 ms of start-up;
# concurrent.futures loads logging: 4 ms.
NOT_AT_START = (
    "concurrent.futures",
    "dataclasses",
    "inspect",
    "jinja2",
    "logging",
    "requests",
    "subprocess",
    "urllib.request",
)

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


CONNECT = """
import socket
from kkimage.connections import Origin, _connect
listening = socket.create_server(("127.0.0.1", 0))
_connect(Origin("http", f"127.0.0.1:{listening.getsockname()[1]}"), None).close()
"""


def test_a_connection_to_an_ascii_host_does_not_load_the_idna_codec():
    assert "encodings.idna" not in imported_by(CONNECT, "")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "task.yaml", "--jobs", "4", "--var", "a=b"],
        ["pull", "hub.local/a:1", "b:2", "--images-dir", "s", "--platform", "linux/amd64"],
        ["mirror", "a:1", "hub.local/x/{{ .module.image.src.reference.repository }}"],
        ["registry", "up", "--profile", "plain"],
        ["verify", "store", "--json"],
    ],
)
def test_a_commands_own_parser_reads_its_arguments_as_the_whole_parser_does(argv):
    only = build_parser(argv[0])
    assert list(only._subparsers._group_actions[0].choices) == [argv[0]]  # type: ignore[union-attr]
    assert only.parse_args(argv) == build_parser().parse_args(argv)
