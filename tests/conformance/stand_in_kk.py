"""A stand-in for KubeKey's `kk`, for testing the kubekey adapter where no real kk is built.

It speaks the part of kk's command line the adapter uses: `kk version` and
`kk run --workdir DIR PLAYBOOK`. It records what it was given (STAND_IN_RECORD: a JSON file),
and answers as $STAND_IN_MODE says:
- `run` (default): runs the play's tasks with the reference (`python -m kkimage run`), then
  prints kk's closing summary; a failing task prints kk's error lines and exits 1;
- `exit0-failed`: a summary counting a failed task, and exit 0 (kk does this with
  ignore_errors);
- `no-summary`: exit 0 and say nothing;
- `hang`: write its pid to $STAND_IN_PID and sleep (to be killed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

SUMMARY = "10:00 UTC [Playbook default/run-1] finish. total: {},success: {},ignored: 0,failed: {}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        print(json.dumps({"gitVersion": os.environ.get("STAND_IN_VERSION", "")}), file=sys.stderr)
        return 0
    if argv[:2] != ["run", "--workdir"] or len(argv) != 4:
        print(f"Error: stand-in kk does not understand {argv}", file=sys.stderr)
        return 2
    workdir, playbook = Path(argv[2]), Path(argv[3])
    plays = yaml.safe_load(playbook.read_text())
    if record := os.environ.get("STAND_IN_RECORD"):
        Path(record).write_text(
            json.dumps({"argv": argv, "cwd": os.getcwd(), "playbook": plays}, indent=2)
        )
    mode = os.environ.get("STAND_IN_MODE", "run")
    if mode == "hang":
        Path(os.environ["STAND_IN_PID"]).write_text(str(os.getpid()))
        time.sleep(600)
        return 0
    if mode == "no-summary":
        return 0
    tasks = plays[0]["tasks"]
    if mode == "exit0-failed":
        print(SUMMARY.format(len(tasks), len(tasks) - 1, 1))
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "vars.yaml").write_text(yaml.safe_dump(plays[0].get("vars") or {}))
    done = 0
    for number, task in enumerate(tasks, 1):
        task_file = workdir / f"task-{number}.yaml"
        task_file.write_text(yaml.safe_dump([task]))
        command = [sys.executable, "-m", "kkimage", "run", str(task_file), "--vars"]
        result = subprocess.run([*command, str(workdir / "vars.yaml")], text=True, stderr=-1)
        if result.returncode != 0:
            print(SUMMARY.format(len(tasks), done, 1))
            print(
                f"Error: task [{task.get('name')}] run failed: \n{result.stderr}", file=sys.stderr
            )
            return 1
        done += 1
    print(SUMMARY.format(len(tasks), done, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
