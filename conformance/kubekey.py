"""KubeKey's own `kk` as an implementation under test: `--impl kubekey`.

KubeKey runs the image module inside playbooks, so each task file becomes a one-play
playbook (`hosts: [localhost]`, `gather_facts: false`, the variables as play vars, the tasks
as they are), written into a private temporary directory and run with
`kk run --workdir <private> <playbook>` from the caller's working directory (relative paths
in the tasks mean what they mean to the suite).

`kk` exits 0 in some failures, so a run succeeds only when kk exits 0 *and* its closing
summary (`finish. total: N,success: N,ignored: 0,failed: 0`) counts every task as done. kk's
error lines are repeated on stderr; everything else it prints goes to stdout. kk dies with
the wrapper (PR_SET_PDEATHSIG): a case that kills the implementation mid-transfer leaves no
`kk` writing on.

    python -m conformance.kubekey run TASK.yaml [--vars VARS.yaml] [--kk-binary PATH]
    python -m conformance.kubekey suite [PYTEST ARGS...]     (what `tox -e kubekey` runs)

`suite` runs the conformance suite on $KKIMAGE_KK_BINARY with the expectations file of its
version: $KKIMAGE_KK_VERSION, else the version the binary reports (`make kk` stamps it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .implementations import Implementation, ImplementationError

BINARY_VARIABLE = "KKIMAGE_KK_BINARY"
VERSION_VARIABLE = "KKIMAGE_KK_VERSION"
# What a release has of the suite's features (docs/kubekey.md). G1 (v4.0.2, v4.0.3): no
# ca_file, client certificates, policy, L2 stores, digest references or task mappings. G2
# (v4.0.4 on) has policy, reads L2, and takes digest references; ca_file, cert_file and
# key_file from v4.0.5. A feature is declared where the release has the argument, so that a
# case shows how it behaves (a deviation is an expectations entry, not a skip).
FEATURES = frozenset({"proxy_env"})
G2_FEATURES = FEATURES | {"policy", "l2_read", "digest_pull"}
TLS_FILES = frozenset({"ca_file", "client_cert"})
_SUMMARY = re.compile(
    r"finish\. total: (?P<total>\d+),\s*success: (?P<success>\d+),\s*"
    r"ignored: (?P<ignored>\d+),\s*failed: (?P<failed>\d+)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXIT_FAILED, EXIT_USAGE = 1, 2


def find_binary(explicit: str | None = None) -> str:
    """The kk binary to run: `explicit`, else $KKIMAGE_KK_BINARY; ImplementationError if it
    is not an executable file."""
    binary = explicit or os.environ.get(BINARY_VARIABLE)
    if not binary:
        raise ImplementationError(
            f"the kubekey implementation needs a kk binary: --kk-binary PATH or {BINARY_VARIABLE}"
        )
    path = shutil.which(binary) or binary
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise ImplementationError(f"kk binary {binary!r} is not an executable file")
    return os.path.abspath(path)


@dataclass
class KubeKey(Implementation):
    """The adapter the entry point `kubekey` names."""

    name: str = "kubekey"
    # None until check_usable, unless declared: the version's (features_of, formats_of)
    features: frozenset[str] = None  # type: ignore[assignment]
    formats: tuple[str, ...] = None  # type: ignore[assignment]
    binary: str | None = None  # default: $KKIMAGE_KK_BINARY

    def check_usable(self) -> None:
        self.binary = find_binary(self.binary)
        try:
            answer = subprocess.run(
                [self.binary, "version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImplementationError(f"kk binary {self.binary} does not run: {exc}") from None
        if answer.returncode != 0:
            first = (answer.stderr or answer.stdout).strip().splitlines()[:1]
            raise ImplementationError(
                f"{self.binary} version failed (exit {answer.returncode}): {''.join(first)}"
            )
        version = kk_version(self.binary)
        if self.formats is None:
            self.formats = formats_of(version)
        if self.features is None:
            self.features = features_of(version)

    def describe(self) -> str:
        return f"kk run ({Path(self.binary or 'kk').name}, one-play localhost playbook)"

    def argv(self, task: Path, variables: Path) -> list[str]:
        binary = self.binary or find_binary()
        command = [sys.executable, "-m", "conformance.kubekey", "run", str(task)]
        return [*command, "--vars", str(variables), "--kk-binary", binary]


def playbook(tasks: Any, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """The one-play playbook that runs `tasks` (the task file's content, as it is)."""
    play: dict[str, Any] = {"hosts": ["localhost"], "gather_facts": False}
    if variables:
        play["vars"] = variables
    play["tasks"] = tasks
    return [play]


def verdict(returncode: int, stdout: str) -> str | None:
    """Why a kk run did not succeed, or None when it did."""
    if returncode != 0:
        return f"kk exited with status {returncode}"
    found = _SUMMARY.findall(_ANSI.sub("", stdout))
    if not found:
        return "kk exited 0 without its closing summary (finish. total: ...)"
    total, success, ignored, failed = map(int, found[-1])
    if failed or success != total:
        return (
            f"kk exited 0, but its summary counts {success} of {total} tasks done "
            f"({failed} failed, {ignored} ignored)"
        )
    return None


def _die_with_parent() -> None:
    """In the child: SIGKILL when the wrapper dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _load(path: str, what: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ImplementationError(f"cannot read {what} {path}: {exc}") from None


def run(task: str, variables: str | None, binary: str) -> int:
    tasks = _load(task, "task file")
    values = (_load(variables, "variables file") or {}) if variables else {}
    private = Path(tempfile.mkdtemp(prefix="kkimage-kk-"))
    process: subprocess.Popen[str] | None = None

    def forward(signum: int, _frame: Any) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        book = private / "playbook.yaml"
        book.write_text(yaml.safe_dump(playbook(tasks, values), sort_keys=False))
        process = subprocess.Popen(
            [binary, "run", "--workdir", str(private / "work"), str(book)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=_die_with_parent,
        )
        stdout, stderr = process.communicate()
    finally:
        shutil.rmtree(private, ignore_errors=True)
    sys.stdout.write(_ANSI.sub("", stdout))
    problem = verdict(process.returncode, stdout)
    if problem is None:
        return 0
    errors = [line for line in _ANSI.sub("", stderr).splitlines() if line.strip()]
    sys.stderr.write("\n".join([*errors, f"kubekey adapter: {problem}"]) + "\n")
    return EXIT_FAILED


def kk_version(binary: str) -> str | None:
    """$KKIMAGE_KK_VERSION, else the gitVersion `kk version` reports (empty in a plain
    `go build`), else None."""
    if os.environ.get(VERSION_VARIABLE):
        return os.environ[VERSION_VARIABLE].strip()
    with contextlib.suppress(OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        answer = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30)
        return json.loads(answer.stdout.strip() or answer.stderr).get("gitVersion") or None
    return None


def _release(version: str | None) -> tuple[int, ...]:
    """(4, 0, 5) of v4.0.5 (and of v4.0.5-rc.0); unknown: the newest there is."""
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version or "")
    return tuple(map(int, found.groups())) if found else (99, 0, 0)


def formats_of(version: str | None) -> tuple[str, ...]:
    """The argument format a release speaks: G2 from v4.0.4 on (its G1 is broken there, a
    finding of its own with `--impl-formats g1`), G1 before; unknown: G2, the current one."""
    return ("g1",) if _release(version) < (4, 0, 4) else ("g2",)


def features_of(version: str | None) -> frozenset[str]:
    release = _release(version)
    if release < (4, 0, 4):
        return FEATURES
    return G2_FEATURES | (TLS_FILES if release >= (4, 0, 5) else frozenset())


def expectations_file(version: str) -> Path | None:
    path = resources.files("conformance") / "expectations" / f"kubekey-{version}.yaml"
    return Path(str(path)) if path.is_file() else None


def suite(pytest_args: list[str]) -> int:
    """The conformance suite on $KKIMAGE_KK_BINARY, with the expectations of its version."""
    try:
        binary = find_binary()
    except ImplementationError:
        print(
            f"kubekey: set {BINARY_VARIABLE} to a kk binary (docs/kubekey.md says how to build "
            f"one), e.g. {BINARY_VARIABLE}=$HOME/kk/kk-v4.0.3 tox -e kubekey",
            file=sys.stderr,
        )
        return EXIT_USAGE
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "conformance",
        "--impl",
        "kubekey",
        "--kk-binary",
        binary,
    ]
    if not any(arg.startswith("--expectations") for arg in pytest_args):
        version = kk_version(binary)
        known = sorted(p.name for p in (resources.files("conformance") / "expectations").iterdir())
        path = expectations_file(version) if version else None
        if path is None:
            said = f"kk reports version {version}" if version else "kk reports no version"
            print(
                f"kubekey: {said} and there is no expectations file for it (have: "
                f"{', '.join(known)}); set {VERSION_VARIABLE} (e.g. v4.0.3), or pass "
                "--expectations FILE",
                file=sys.stderr,
            )
            return EXIT_USAGE
        command += ["--expectations", str(path)]
        if formats_of(version) == ("g2",) and "--portless" not in pytest_args:
            command.append("--portless")  # it refuses host:port image names (docs/kubekey.md)
    return subprocess.call([*command, *pytest_args])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["suite"]:  # everything after it is pytest's
        return suite(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m conformance.kubekey")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("run", help="run a task file with kk")
    command.add_argument("task", metavar="TASK.yaml")
    command.add_argument("--vars", metavar="VARS.yaml")
    command.add_argument("--kk-binary", metavar="PATH", help=f"default: ${BINARY_VARIABLE}")
    commands.add_parser("suite", help="the conformance suite on kk (arguments go to pytest)")
    args = parser.parse_args(argv)
    try:
        return run(args.task, args.vars, find_binary(args.kk_binary))
    except ImplementationError as exc:
        print(f"kubekey adapter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
