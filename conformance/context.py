"""What a check works with: the implementation, the registry of its profile, scratch space,
and assertions whose failures say what was expected, what was found and how to reproduce."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import FaultProxy
from kkimage_fixtures.target import Target

from . import stores
from .cases import Case
from .expectations import Expectation
from .formats import LAYOUT, render
from .implementations import Implementation, Outcome

CORPUS = images.corpus()


class CaseFailure(AssertionError):
    """The implementation did not do what the case requires (status: fail)."""


class UnexpectedPass(AssertionError):
    """A case the expectations file lists as failing passed (status: xpass)."""


@dataclass
class CaseContext:
    case: Case
    profile: str
    impl: Implementation
    tmp: Path
    namespace: str
    target: Target | None
    format: str = "g1"  # the argument format tasks are rendered in (formats.FORMATS)
    expected: Expectation | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _runs: int = 0

    @property
    def registry(self) -> Target:
        assert self.target is not None, f"{self.case.id} needs a registry profile"
        return self.target

    def path(self, name: str) -> Path:
        return self.tmp / name

    @property
    def layout(self) -> str:
        """The store layout the case's format writes: L1 for G1, L2 for G2."""
        return LAYOUT[self.format]

    def manifest_file(self, store: Path, reference: str, name: str | None = None) -> Path:
        """Where the implementation should have stored `reference`, in the format's layout."""
        return stores.manifest_file(store, reference, name, self.layout)

    def images(self, store: Path) -> set[str]:
        """The images `store` holds by tag (Docker Hub's named docker.io)."""
        return set(stores.images(store))

    def run(
        self,
        tasks: dict | list[dict],
        variables: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        *,
        as_list: bool = True,
    ) -> Outcome:
        """Run the implementation on `tasks`; `as_list=False` writes a single task as a
        mapping instead of a list."""
        task_list = render(tasks if isinstance(tasks, list) else [tasks], self.format)
        outcome = self.impl.run(
            task_list, variables or {}, self.tmp, self._number(), self._env(env), as_list
        )
        self.outcomes.append(outcome)
        return outcome

    def command(self, *args: object) -> Outcome:
        """One of the implementation's own commands (feature `archives`), in the case's
        space: `export ...`, `import ...`."""
        words = [str(arg) for arg in args]
        outcome = self.impl.run_command(words, self.tmp, self._env(None))
        self.outcomes.append(outcome)
        return outcome

    def start(self, tasks: list[dict]) -> subprocess.Popen[str]:
        """The implementation running `tasks` in the background (for cases that interrupt it
        or run it twice at once); the caller waits for it."""
        task_file, vars_file = self.impl.write(
            render(tasks, self.format), {}, self.tmp, self._number()
        )
        return self.impl.start(task_file, vars_file, self._env(None))

    def succeeded_at_once(self, runs: list[list[dict]], what: str) -> None:
        """Every run of `runs` started at once (into one store, say); each must exit 0."""
        processes = [self.start(tasks) for tasks in runs]
        for process in processes:
            _, stderr = process.communicate(timeout=self.impl.timeout)
            self.expect(
                process.returncode == 0,
                f"one of {len(processes)} {what} at once failed",
                "exit 0",
                f"exit {process.returncode}: {stderr.strip()[-300:]}",
            )

    def _number(self) -> int:
        self._runs += 1
        return self._runs

    def _env(self, env: dict[str, str] | None) -> dict[str, str]:
        """The case's variables over those that let the implementation trust the CA."""
        trust = self.target.trust_environment() if self.target else {}
        return {**trust, **(env or {})}

    def proxy(self) -> FaultProxy:
        return self._stack.enter_context(self.registry.proxy())

    def closing(self, server: FaultProxy) -> FaultProxy:
        """A started server, stopped when the case ends."""
        self._stack.callback(server.stop)
        return server

    def close(self) -> None:
        self._stack.close()

    # ---- judging ------------------------------------------------------------------------------

    def fail(self, message: str, expected: Any = None, found: Any = None) -> CaseFailure:
        """A verdict: what was expected and found, and how to reproduce the last run.
        The registry's passwords never appear in it, whatever the implementation printed."""
        lines = [message]
        if expected is not None or found is not None:
            lines += [f"  expected: {_show(expected)}", f"  found:    {_show(found)}"]
        if self.outcomes:
            last = self.outcomes[-1]
            if last.task_file is not None:
                lines.append(f"  task file: {last.task_file}")
            lines += [
                f"  reproduce: {last.command}",
                f"  exit status {last.returncode}; stderr: {_tail(last.stderr)}",
            ]
            if self.target is not None:
                lines.append(
                    f"  (registry profile {self.profile} at {self.target.host}; "
                    f"`kkimage registry up --profile {self.profile} --seed` gives one like it)"
                )
        text = "\n".join(lines)
        running = self.target.running if self.target else None
        for password in {*running.users.values(), running.password} if running else ():
            if password:
                text = text.replace(password, "<password>")
        return CaseFailure(text)

    def expect(self, condition: bool, message: str, expected: Any = None, found: Any = None):
        if not condition:
            raise self.fail(message, expected, found)

    def expect_equal(self, found: Any, expected: Any, message: str) -> None:
        self.expect(found == expected, message, expected, found)

    def read(self, path: Path, store: Path, what: str) -> bytes:
        """A file the implementation should have written; its absence is a verdict (fail),
        not a harness error."""
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            missing = f"{what}: no file {_relative(path, store)}"
            raise self.fail(missing, "a file", _holdings(store)) from None
        except IsADirectoryError:
            raise self.fail(f"{what}: {_relative(path, store)} is a directory") from None

    def succeeded(self, outcome: Outcome, what: str = "the run") -> Outcome:
        self.expect(outcome.ok, f"{what} should succeed", "exit status 0", outcome.returncode)
        return outcome

    def failed_cleanly(
        self, outcome: Outcome, because: str, *, secrets: tuple[str, ...] = ()
    ) -> Outcome:
        """Non-zero exit, an error message on stderr that names the cause (`because`, a
        regular expression searched case-insensitively), no traceback, no secret in any output.

        A run that fails for another reason than the one the case provokes has not shown
        what the case checks: that is a failure too, not a pass.
        """
        self.expect(not outcome.ok, "the run should fail", "a non-zero exit status", 0)
        self.expect(
            outcome.stderr.strip() != "",
            "a failure should explain itself on stderr",
            "an error message",
            "empty stderr",
        )
        self.expect(
            re.search(because, outcome.stderr, re.IGNORECASE) is not None,
            "the run failed, but its error does not name the cause the case provokes",
            f"a message matching /{because}/",
            _tail(outcome.stderr),
        )
        self.expect(
            "Traceback (most recent call last)" not in outcome.stderr,
            "a failure should be a message, not a traceback",
            "one error line",
            _tail(outcome.stderr),
        )
        for secret in secrets:
            self.expect(
                secret not in outcome.stdout + outcome.stderr,
                "a password appears in the output",
                "no password",
                "the password",
            )
        return outcome


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 400 else text[:400] + "…"


def _holdings(store: Path, shown: int = 4) -> str:
    """What a store holds instead, in a few words: its manifest files, not its blobs."""
    if not store.is_dir():
        return "no store"
    found = sorted(
        str(p.relative_to(store))
        for p in store.rglob("*")
        if p.is_file() and p.relative_to(store).parts[0] != "blobs"
    )
    if not found:
        return "a store without manifests"
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return "the store holds " + ", ".join(found[:shown]) + more


def _relative(path: Path, store: Path) -> str:
    return str(path.relative_to(store)) if path.is_relative_to(store) else str(path)


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[:500] or "(empty)"


@contextlib.contextmanager
def case_context(**kwargs: Any) -> Iterator[CaseContext]:
    ctx = CaseContext(**kwargs)
    try:
        yield ctx
    finally:
        ctx.close()
