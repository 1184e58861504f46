"""A credential helper speaking Docker's protocol (`docker-credential-<name> get`, the server
on stdin, `{"ServerURL", "Username", "Secret"}` on stdout), installed by `install` as a real
executable on a PATH of its own. What it answers is in `answers.json` beside it, which the
test writes; every server it was asked for is appended to `asked.log`."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

SCRIPT = f"""#!{sys.executable}
import json, sys, time
from pathlib import Path
here = Path(__file__).parent
server = sys.stdin.read()
with open(here / "asked.log", "a") as log:
    log.write(server + "\\n")
answers = json.loads((here / "answers.json").read_text())
mode = answers.get("mode", "answer")
if mode == "hang":
    time.sleep(600)
if mode == "fail":  # as a helper that prints what it should not
    print(answers.get("leak", ""))
    print(answers.get("leak", ""), file=sys.stderr)
    sys.exit(3)
if mode == "garbage":
    print("not json " + answers.get("leak", ""))
    sys.exit(0)
found = answers.get("servers", {{}}).get(server)
if found is None:
    print("credentials not found in native keychain")
    sys.exit(1)
print(json.dumps({{"ServerURL": server, **found}}))
"""


class Helper:
    def __init__(self, directory: Path, name: str = "kktest") -> None:
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        program = directory / f"docker-credential-{name}"
        program.write_text(SCRIPT)
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
        self.answer({})

    def answer(self, servers: dict[str, dict[str, str]], mode: str = "answer", leak: str = ""):
        (self.directory / "answers.json").write_text(
            json.dumps({"servers": servers, "mode": mode, "leak": leak})
        )

    @property
    def asked(self) -> list[str]:
        log = self.directory / "asked.log"
        return log.read_text().splitlines() if log.exists() else []

    def path_env(self) -> dict[str, str]:
        return {"PATH": f"{self.directory}{os.pathsep}{os.environ.get('PATH', '')}"}
