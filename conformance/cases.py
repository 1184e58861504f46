"""Cases are data (cases/*.yaml) with stable ids; each names a check function and the
docs/spec.md requirements it verifies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from .formats import FORMATS

AREAS = {
    "LAYOUT": "layout",
    "PLAT": "platforms",
    "AUTH": "auth",
    "TLS": "tls",
    "TMPL": "templates",
    "PUSH": "push",
    "COPY": "copy",
    "ERR": "errors",
    "REL": "robustness",
    "TASK": "tasks",
    "ARCH": "archives",
    "FMT": "formats",
}
PROFILES = ("plain", "basic", "tls", "token", "mtls")
NO_REGISTRY = "none"  # cases that only use local stores
# What every case on a profile needs of the implementation, whatever its check does: the
# mtls registry answers no one without a client certificate.
PROFILE_REQUIRES = {"mtls": ("client_cert",)}
_ID = re.compile(r"(?P<prefix>[A-Z]+)-\d{3}")


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    spec: tuple[str, ...]
    check: str
    profiles: tuple[str, ...] = ("plain",)
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    requires: tuple[str, ...] = ()  # implementation features; undeclared: skipped
    formats: tuple[str, ...] = FORMATS  # the argument formats the case is written for
    only_because: str | None = None  # why, when that is not every format

    @property
    def area(self) -> str:
        return AREAS[self.id.split("-")[0]]

    def requirements(self, profile: str) -> tuple[str, ...]:
        """The features the case needs on `profile`."""
        return tuple(dict.fromkeys([*self.requires, *PROFILE_REQUIRES.get(profile, ())]))


def _case(entry: dict[str, Any], source: str) -> Case:
    unknown = set(entry) - {
        "id",
        "title",
        "spec",
        "check",
        "profiles",
        "params",
        "requires",
        "formats",
        "only_because",
    }
    if unknown:
        raise ValueError(f"{source}: {entry.get('id')}: unknown keys {sorted(unknown)}")
    profiles = entry.get("profiles", ["plain"])
    if profiles == "all":
        profiles = list(PROFILES)
    return Case(
        id=entry["id"],
        title=entry["title"],
        spec=tuple(entry["spec"]),
        check=entry["check"],
        profiles=tuple(profiles),
        params=dict(entry.get("params") or {}),
        requires=tuple(entry.get("requires") or ()),
        formats=tuple(entry.get("formats") or FORMATS),
        only_because=entry.get("only_because"),
    )


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(resources.files("conformance").joinpath("cases").iterdir(), key=str):
        if path.name.endswith(".yaml"):
            for entry in yaml.safe_load(path.read_text()):
                cases.append(_case(entry, path.name))
    return cases


def spec_requirements(text: str) -> set[str]:
    """Requirement ids defined in docs/spec.md (lines starting `- **R-...**`)."""
    return set(re.findall(r"^- \*\*(R-[A-Z][A-Z0-9]*-\d+)\*\*", text, re.MULTILINE))


def lint(cases: list[Case], requirements: set[str], checks: set[str]) -> list[str]:
    """Problems in the corpus: ids malformed or repeated, citations of requirements that do
    not exist, requirements no case cites, checks that do not exist, unknown profiles."""
    problems = []
    seen: set[str] = set()
    cited: set[str] = set()
    for case in cases:
        match = _ID.fullmatch(case.id)
        if not match or match["prefix"] not in AREAS:
            problems.append(f"{case.id}: id must be AREA-NNN with AREA in {sorted(AREAS)}")
        if case.id in seen:
            problems.append(f"{case.id}: id used twice")
        seen.add(case.id)
        if not case.spec:
            problems.append(f"{case.id}: cites no requirement")
        for requirement in case.spec:
            cited.add(requirement)
            if requirement not in requirements:
                problems.append(f"{case.id}: cites {requirement}, which docs/spec.md lacks")
        if case.check not in checks:
            problems.append(f"{case.id}: check {case.check!r} does not exist")
        for profile in case.profiles:
            if profile not in (*PROFILES, NO_REGISTRY):
                problems.append(f"{case.id}: unknown profile {profile!r}")
        if set(case.formats) - set(FORMATS):
            problems.append(
                f"{case.id}: unknown formats {sorted(set(case.formats) - set(FORMATS))}"
            )
        if (set(case.formats) != set(FORMATS)) != (case.only_because is not None):
            problems.append(f"{case.id}: only_because says why a case is not in every format")
    for requirement in sorted(requirements - cited):
        # The reference's own CLI is not conformance.
        if not requirement.startswith("R-CLI-"):
            problems.append(f"{requirement}: no case checks it")
    return problems
