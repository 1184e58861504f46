"""The kubekey adapter: the playbook it writes, when it calls a run a success, how it handles
kk's process, and the suite driven through it, with a stand-in `kk` where no real one is
built. With KKIMAGE_KK_BINARY set to a real kk, the suite runs against it too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conformance.kubekey import expectations_file, kk_version, playbook, verdict
from tests.conformance.runner import PYTEST, statuses, suite

STAND_IN = Path(__file__).with_name("stand_in_kk.py")
ADAPTER = [sys.executable, "-m", "conformance.kubekey"]
SUMMARY = (
    "12:00:00 UTC [Playbook default/run-x] finish. total: {},success: {},ignored: 0,failed: {}"
)


@pytest.fixture
def kk(tmp_path: Path) -> Path:
    """The stand-in as an executable, as a kk binary is."""
    path = tmp_path / "bin" / "kk"
    path.parent.mkdir()
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STAND_IN}" "$@"\n')
    path.chmod(0o755)
    return path


def adapter(kk: Path, tmp_path: Path, tasks: object, variables=None, **env: str):
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(tasks))
    (tmp_path / "vars.yaml").write_text(yaml.safe_dump(variables or {}))
    argv = [*ADAPTER, "run", str(task), "--vars", str(tmp_path / "vars.yaml")]
    return subprocess.run(
        [*argv, "--kk-binary", str(kk)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        timeout=120,
    )


def test_playbook_is_one_localhost_play_with_the_tasks_as_they_are():
    tasks = [{"name": "pull", "image": {"pull": {"manifests": ["a/b:c"]}}}]
    assert playbook(tasks, {"tag": "v1"}) == [
        {"hosts": ["localhost"], "gather_facts": False, "vars": {"tag": "v1"}, "tasks": tasks}
    ]
    assert "vars" not in playbook(tasks, {})[0]


def test_kk_is_run_from_the_callers_directory_with_a_private_workdir(kk, tmp_path):
    record = tmp_path / "record.json"
    tasks = [{"name": "noop", "image": {"copy": {}}}]
    adapter(kk, tmp_path, tasks, {"x": 1}, STAND_IN_RECORD=str(record), STAND_IN_MODE="no-summary")
    seen = json.loads(record.read_text())
    assert seen["playbook"] == playbook(tasks, {"x": 1})
    assert seen["cwd"] == str(tmp_path)
    workdir = Path(seen["argv"][2])
    assert seen["argv"][:2] == ["run", "--workdir"] and not workdir.is_relative_to(tmp_path)
    assert not workdir.parent.exists(), "the private directory outlives the run"


@pytest.mark.parametrize(
    ("returncode", "stdout", "problem"),
    [
        (0, SUMMARY.format(2, 2, 0), None),
        (0, "\x1b[36m" + SUMMARY.format(1, 1, 0) + "\x1b[0m", None),
        (0, SUMMARY.format(2, 1, 1), "counts 1 of 2 tasks done"),
        (0, "no summary at all", "without its closing summary"),
        (1, SUMMARY.format(1, 1, 0), "exited with status 1"),
    ],
)
def test_success_needs_exit_0_and_every_task_done(returncode, stdout, problem):
    found = verdict(returncode, stdout)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize(
    ("mode", "message"),
    [("exit0-failed", "counts 0 of 1 tasks done"), ("no-summary", "without its closing summary")],
)
def test_a_kk_exiting_0_without_doing_the_work_is_a_failure(kk, tmp_path, mode, message):
    result = adapter(kk, tmp_path, [{"name": "t", "image": {}}], STAND_IN_MODE=mode)
    assert result.returncode == 1
    assert message in result.stderr.splitlines()[-1]


def test_kk_error_lines_reach_stderr(kk, tmp_path):
    tasks = [{"name": "bad", "image": {"pull": {"images_dir": "s", "manifests": []}}}]
    result = adapter(kk, tmp_path, tasks)
    assert result.returncode == 1
    assert "Error: task [bad] run failed" in result.stderr
    assert "kubekey adapter: kk exited with status 1" in result.stderr


def test_kk_dies_with_the_adapter(kk, tmp_path):
    """A case kills the implementation mid-transfer: no kk may keep writing."""
    pid_file = tmp_path / "kk.pid"
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump([{"name": "t", "image": {}}]))
    env = {**os.environ, "STAND_IN_MODE": "hang", "STAND_IN_PID": str(pid_file)}
    wrapper = subprocess.Popen([*ADAPTER, "run", str(task), "--kk-binary", str(kk)], env=env)
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kk_pid = int(pid_file.read_text())
    wrapper.send_signal(signal.SIGKILL)
    wrapper.wait()
    deadline = time.monotonic() + 10
    while _alive(kk_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(kk_pid), "kk outlived the killed adapter"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped for good


@pytest.mark.parametrize("binary", [None, "/nonexistent/kk", "/etc/hostname"])
def test_a_missing_or_wrong_binary_is_one_line(tmp_path, binary):
    env = {k: v for k, v in os.environ.items() if k != "KKIMAGE_KK_BINARY"}
    options = ["--kk-binary", binary] if binary else []
    result = subprocess.run(
        [*PYTEST, "--impl", "kubekey", *options, "-k", "LAYOUT-001"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "Traceback" not in result.stdout + result.stderr
    assert ("KKIMAGE_KK_BINARY" if binary is None else "kk binary") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_version_picks_the_expectations_file(kk, monkeypatch):
    monkeypatch.delenv("KKIMAGE_KK_VERSION", raising=False)
    monkeypatch.setenv("STAND_IN_VERSION", "v4.0.3")
    assert kk_version(str(kk)) == "v4.0.3"
    assert expectations_file("v4.0.3").name == "kubekey-v4.0.3.yaml"
    assert expectations_file("v9.9.9") is None
    monkeypatch.setenv("KKIMAGE_KK_VERSION", "v4.0.2")
    assert kk_version(str(kk)) == "v4.0.2"


def test_the_tox_runner_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KKIMAGE_KK_")}
    result = subprocess.run([*ADAPTER, "suite"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "set KKIMAGE_KK_BINARY" in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("version", "suffix", "features"),
    [
        ("v4.0.3", "", ["proxy_env"]),
        ("v4.0.4", "(g2)", ["digest_pull", "l2_read", "policy", "proxy_env"]),
        (
            "v4.0.6",
            "(g2)",
            ["ca_file", "client_cert", "digest_pull", "l2_read", "policy", "proxy_env"],
        ),
    ],
)
def test_the_suite_runs_through_the_adapter(kk, tmp_path, monkeypatch, version, suffix, features):
    """The whole path, with the stand-in running the reference: cases pass, in the format of
    the version kk reports, and the report names the adapter and what it declares."""
    monkeypatch.setenv("STAND_IN_VERSION", version)
    process, results = suite(
        tmp_path, "--impl", "kubekey", "--kk-binary", str(kk), "-k", "LAYOUT-005 or ERR-010"
    )
    expected = {f"LAYOUT-005[plain]{suffix}": "pass", f"ERR-010[plain]{suffix}": "pass"}
    assert statuses(results) == expected, process.stdout
    assert results["implementation"] == "kubekey" and results["features"] == features
    assert str(kk) not in json.dumps(results), "results.json names a path of this machine"


REAL_KK = os.environ.get("KKIMAGE_KK_BINARY")


@pytest.mark.integration
@pytest.mark.skipif(
    not REAL_KK,
    reason="needs a real kk: set KKIMAGE_KK_BINARY (and KKIMAGE_KK_VERSION for an unstamped "
    "build) as docs/kubekey.md says",
)
def test_a_real_kk_meets_its_expectations_file(tmp_path):
    version = kk_version(REAL_KK or "")
    path = expectations_file(version) if version else None
    if path is None:
        pytest.skip(f"no expectations file for kk {version or '(no version reported)'}")
    process, results = suite(tmp_path, "--impl", "kubekey", "--expectations", str(path), "-n", "2")
    assert process.returncode == 0, process.stdout[-3000:]
    assert not {"fail", "error", "xpass"} & set(statuses(results).values())
