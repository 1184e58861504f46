"""Expectations files: the cases an implementation is known to fail, and why.

```yaml
implementation: KubeKey v4.0.3        # the name reports use
features: [proxy_env]                 # what it supports (see implementations.FEATURES)
formats: [g1]                         # the argument formats it speaks (g1, g2)
cases:
  PLAT-003: {reason: "substring match: arm keeps arm64", match: "children kept"}
  AUTH-007: {reason: "...", match: "...", profiles: [basic]}
  TMPL-016: "a reason alone"          # accepted; without `match` any failure is expected
```

A listed case that fails with a message `match` (a regular expression, searched) does not
find is a failure, not an expected one; a listed case that passes is an unexpected pass.
Both fail the run, so the file stays true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_FILE_KEYS = {"implementation", "features", "formats", "cases"}
_ENTRY_KEYS = {"reason", "match", "profiles", "source"}


class ExpectationsError(ValueError):
    """The file cannot be read or is malformed (one line)."""


@dataclass(frozen=True)
class Expectation:
    reason: str
    match: re.Pattern[str] | None = None
    profiles: tuple[str, ...] | None = None  # None: every profile of the case
    source: str | None = None  # where the implementation's code explains it

    def applies(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles

    def explains(self, message: str) -> bool:
        return self.match is None or self.match.search(message) is not None

    def describe(self) -> str:
        text = self.reason
        if self.match is not None:
            text += f" (failure matching /{self.match.pattern}/)"
        return text


@dataclass(frozen=True)
class Expectations:
    implementation: str | None = None
    features: str | None = None  # as --impl-features spells them
    formats: str | None = None  # as --impl-formats spells them
    cases: dict[str, Expectation] = field(default_factory=dict)

    def get(self, case_id: str, profile: str) -> Expectation | None:
        expected = self.cases.get(case_id)
        return expected if expected is not None and expected.applies(profile) else None


def _entry(case_id: str, value: object, where: str) -> Expectation:
    if isinstance(value, str):
        return Expectation(reason=value)
    if not isinstance(value, dict) or not isinstance(value.get("reason"), str):
        raise ExpectationsError(f"{where}: {case_id}: expected a reason, or {{reason, match}}")
    unknown = set(value) - _ENTRY_KEYS
    if unknown:
        raise ExpectationsError(f"{where}: {case_id}: unknown keys {', '.join(sorted(unknown))}")
    match = None
    if value.get("match") is not None:
        try:
            match = re.compile(str(value["match"]))
        except re.error as exc:
            raise ExpectationsError(f"{where}: {case_id}: invalid match: {exc}") from None
    profiles = value.get("profiles")
    return Expectation(
        reason=value["reason"],
        match=match,
        profiles=tuple(profiles) if profiles is not None else None,
        source=value.get("source"),
    )


def load_expectations(path: str | Path | None) -> Expectations:
    if not path:
        return Expectations()
    where = f"--expectations {path}"
    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ExpectationsError(f"{where}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ExpectationsError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(content, dict) or set(content) - _FILE_KEYS:
        raise ExpectationsError(f"{where}: expected a mapping of {', '.join(sorted(_FILE_KEYS))}")
    features = content.get("features")
    if isinstance(features, list):
        features = ",".join(map(str, features)) or "none"
    formats = content.get("formats")
    if isinstance(formats, list):
        formats = ",".join(map(str, formats))
    cases = {
        str(case_id): _entry(str(case_id), value, where)
        for case_id, value in (content.get("cases") or {}).items()
    }
    return Expectations(content.get("implementation"), features, formats, cases)
