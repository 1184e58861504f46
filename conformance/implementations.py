"""Implementations under test: the command that runs a task file, and what it declares.

The contract: `<command> run <task.yaml> [--vars <vars.yaml>]`, exit 0 for success. An
implementation is given as a command template (`--impl-cmd "mytool {task} {vars}"`), or by
name (`--impl NAME`): `reference`, a `mutant:<name>` of the suite's own tests, or an adapter
installed under the entry-point group `kkimage.conformance.adapters` (a callable returning an
`Implementation`; the project ships `kubekey`, for KubeKey's `kk`).

Features are what a case may require beyond the core. The reference declares them all; an
adapter declares its own; a command template declares none unless told (`--impl-features`),
so that an outside implementation is judged on what it claims, never on what it was assumed
to do.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from .formats import FORMATS

ADAPTER_GROUP = "kkimage.conformance.adapters"
# What a case may require. An implementation declares what it supports.
FEATURES = frozenset(
    {
        "archives",  # `<command> export ...` and `<command> import ...`, as kkimage has them
        "ca_file",
        "client_cert",
        "digest_pull",
        "l2_read",
        "policy",
        "proxy_env",
        "task_mapping",
    }
)


class ImplementationError(ValueError):
    """An implementation cannot be named, found or set up (a usage error, in one line)."""


@dataclass
class Outcome:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    task_file: Path | None  # None: a command without a task file (export, import)
    vars_file: Path | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


@dataclass
class Implementation:
    """Runs task files. Subclasses may rewrite the task before (`prepare`) or the results
    after (`after`) a run: that is how mutants distort the reference."""

    name: str
    features: frozenset[str] = frozenset()
    formats: tuple[str, ...] = ("g1",)  # the argument formats it speaks (formats.FORMATS)
    timeout: float = 600.0
    environment: dict[str, str] = field(default_factory=dict)

    def argv(self, task: Path, variables: Path) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        """What runs, for reports: the command, without the paths of one run."""
        return self.name

    def check_usable(self) -> None:
        """Raise ImplementationError if the implementation cannot run at all (a missing
        binary): one clear line before any case, instead of every case failing."""

    def prepare(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return tasks

    def after(self, tasks: list[dict[str, Any]], outcome: Outcome) -> Outcome:
        return outcome

    def supports(self, feature: str) -> bool:
        return feature in self.features

    def write(
        self, tasks: list[dict[str, Any]], variables: dict[str, Any], directory: Path, n: int
    ):
        """The task and variables files of run `n`, the tasks as `prepare` makes them."""
        return _write(self.prepare(tasks), variables, directory, n)

    def command(self, args: list[str]) -> list[str]:
        """The argv of one of kkimage's own commands (`export ...`, `import ...`): for
        implementations declaring the feature `archives`."""
        raise NotImplementedError(f"{self.name} has no command line for {args[:1]}")

    def after_command(self, args: list[str], outcome: Outcome) -> Outcome:
        """What a mutant distorts after a command."""
        return outcome

    def start(self, task_file: Path, vars_file: Path, env: dict[str, str] | None = None):
        """The implementation as a running process (for cases that interrupt it), working in
        the task file's directory: a relative path it writes to stays in the case's space."""
        return self._spawn(self.argv(task_file, vars_file), task_file.parent, env)

    def _spawn(self, argv: list[str], cwd: Path, env: dict[str, str] | None):
        # A case's credentials are its auths: never a docker or podman login of the machine
        # running the suite (an implementation may read them, as kkimage does).
        absent = str(cwd / "no-stored-credentials")
        isolated = {"DOCKER_CONFIG": absent, "REGISTRY_AUTH_FILE": f"{absent}/auth.json"}
        environment = {**os.environ, **isolated, **self.environment, **(env or {})}
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=cwd,
        )

    def _finish(self, process: subprocess.Popen, task_file, vars_file, started: float) -> Outcome:
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\n[conformance: killed after {self.timeout:.0f} s]"
        return Outcome(
            process.args,
            process.returncode,
            stdout,
            stderr,
            time.monotonic() - started,
            task_file,
            vars_file,
        )

    def run(self, tasks, variables, directory: Path, n: int, env=None, as_list=True) -> Outcome:
        """Run `tasks` as run number `n`; `as_list=False`: the file holds the one task as a
        mapping, not a list."""
        prepared = self.prepare(tasks)
        task_file, vars_file = _write(prepared if as_list else prepared[0], variables, directory, n)
        started = time.monotonic()
        process = self.start(task_file, vars_file, env)
        return self.after(prepared, self._finish(process, task_file, vars_file, started))

    def run_command(self, args: list[str], directory: Path, env=None) -> Outcome:
        """One of kkimage's own commands (feature `archives`), in `directory`."""
        started = time.monotonic()
        process = self._spawn(self.command(args), directory, env)
        return self.after_command(args, self._finish(process, None, None, started))


def _write(tasks: list | dict, variables: dict[str, Any], directory: Path, n: int):
    task_file = directory / f"task-{n}.yaml"
    vars_file = directory / f"vars-{n}.yaml"
    task_file.write_text(yaml.safe_dump(tasks, sort_keys=False))
    vars_file.write_text(yaml.safe_dump(variables or {}, sort_keys=False))
    return task_file, vars_file


@dataclass
class Reference(Implementation):
    name: str = "reference"
    features: frozenset[str] = FEATURES
    formats: tuple[str, ...] = FORMATS

    def argv(self, task: Path, variables: Path) -> list[str]:
        return self.command(["run", str(task), "--vars", str(variables)])

    def command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "kkimage", *args]


@dataclass
class CommandTemplate(Implementation):
    """`--impl-cmd`: `{task}` and `{vars}` are replaced by the files' paths."""

    template: str = ""

    def describe(self) -> str:
        return self.template

    def argv(self, task: Path, variables: Path) -> list[str]:
        words = shlex.split(self.template)
        argv = [w.replace("{task}", str(task)).replace("{vars}", str(variables)) for w in words]
        if not any("{task}" in w for w in words):
            argv += ["run", str(task), "--vars", str(variables)]  # the bare contract
        return argv

    def command(self, args: list[str]) -> list[str]:
        """The bare contract's command (a template without {task}), then `args`."""
        words = shlex.split(self.template)
        if any("{task}" in w for w in words):
            raise NotImplementedError("--impl-cmd with {task} has no command line for archives")
        return [*words, *args]


def parse_features(text: str | None) -> frozenset[str] | None:
    """`a,b` (or `all`, or `none`) -> the set; None when not given."""
    if text is None:
        return None
    if text.strip() == "all":
        return FEATURES
    declared = frozenset(f.strip() for f in text.split(",") if f.strip() and f.strip() != "none")
    if declared - FEATURES:
        raise ImplementationError(
            f"unknown features {', '.join(sorted(declared - FEATURES))}; "
            f"known: {', '.join(sorted(FEATURES))}"
        )
    return declared


def parse_formats(text: str | None) -> tuple[str, ...] | None:
    """`g1,g2` -> the formats, in FORMATS order; None when not given."""
    if text is None:
        return None
    named = {f.strip() for f in text.split(",") if f.strip()}
    if not named or named - set(FORMATS):
        raise ImplementationError(
            f"formats {text!r}: give one or more of {', '.join(FORMATS)}, comma-separated"
        )
    return tuple(f for f in FORMATS if f in named)


def load_implementation(
    name: str | None,
    command: str | None,
    features: str | None,
    timeout: float,
    formats: str | None = None,
) -> Implementation:
    declared = parse_features(features)
    spoken = parse_formats(formats)
    if command:
        impl: Implementation = CommandTemplate(name=name or command.split()[0], template=command)
    elif name in (None, "reference"):
        impl = Reference()
    elif name.startswith("mutant:"):
        from .mutants import mutant

        try:
            impl = mutant(name.split(":", 1)[1])
        except ValueError as exc:
            raise ImplementationError(str(exc)) from None
    else:
        found = [e for e in entry_points(group=ADAPTER_GROUP) if e.name == name]
        if not found:
            known = sorted(e.name for e in entry_points(group=ADAPTER_GROUP))
            raise ImplementationError(
                f"no implementation {name!r}: use reference, mutant:<name>, --impl-cmd, "
                f"or an installed adapter ({', '.join(known) or 'none installed'})"
            )
        impl = found[0].load()()
    if declared is not None:
        impl.features = declared
    if spoken is not None:
        impl.formats = spoken
    impl.timeout = timeout
    return impl
