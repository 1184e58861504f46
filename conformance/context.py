"""What a check works with: the implementation, the registry of its profile, scratch space,
and assertions whose failures say what was expected, what was found and how to reproduce."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import FaultProxy
from kkimage_fixtures.target import Target

from .cases import Case
from .implementations import Implementation, Outcome

CORPUS = images.corpus()


class CaseFailure(AssertionError):
    """The implementation did not do what the case requires (status: fail)."""


@dataclass
class CaseContext:
    case: Case
    profile: str
    impl: Implementation
    tmp: Path
    namespace: str
    target: Target | None
    outcomes: list[Outcome] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def registry(self) -> Target:
        assert self.target is not None, f"{self.case.id} needs a registry profile"
        return self.target

    def path(self, name: str) -> Path:
        return self.tmp / name

    def run(
        self,
        tasks: dict | list[dict],
        variables: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        task_list = tasks if isinstance(tasks, list) else [tasks]
        outcome = self.impl.run(task_list, variables or {}, self.tmp, len(self.outcomes) + 1, env)
        self.outcomes.append(outcome)
        return outcome

    def proxy(self) -> FaultProxy:
        return self._stack.enter_context(self.registry.proxy())

    def close(self) -> None:
        self._stack.close()

    # ---- judging ------------------------------------------------------------------------------

    def fail(self, message: str, expected: Any = None, found: Any = None) -> CaseFailure:
        lines = [message]
        if expected is not None or found is not None:
            lines += [f"  expected: {_show(expected)}", f"  found:    {_show(found)}"]
        if self.outcomes:
            last = self.outcomes[-1]
            lines += [
                f"  task file: {last.task_file}",
                f"  reproduce: {last.command}",
                f"  exit status {last.returncode}; stderr: {_tail(last.stderr)}",
            ]
            if self.target is not None:
                lines.append(
                    f"  (registry profile {self.profile} at {self.target.host}; "
                    f"`kkimage registry up --profile {self.profile} --seed` gives one like it)"
                )
        return CaseFailure("\n".join(lines))

    def expect(self, condition: bool, message: str, expected: Any = None, found: Any = None):
        if not condition:
            raise self.fail(message, expected, found)

    def expect_equal(self, found: Any, expected: Any, message: str) -> None:
        self.expect(found == expected, message, expected, found)

    def succeeded(self, outcome: Outcome, what: str = "the run") -> Outcome:
        self.expect(outcome.ok, f"{what} should succeed", "exit status 0", outcome.returncode)
        return outcome

    def failed_cleanly(self, outcome: Outcome, *, secrets: tuple[str, ...] = ()) -> Outcome:
        """Non-zero exit, an error message on stderr, no traceback, no secret in any output."""
        self.expect(not outcome.ok, "the run should fail", "a non-zero exit status", 0)
        self.expect(
            outcome.stderr.strip() != "",
            "a failure should explain itself on stderr",
            "an error message",
            "empty stderr",
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
