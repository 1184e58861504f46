"""Verdicts as data (results.json), as a readable report (report.md, terminal) and as a
matrix across implementations (`python -m conformance compare`)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("pass", "fail", "error", "skip", "xfail", "xpass")
PROBLEMS = ("fail", "error", "xpass")  # what makes a run not conform
SYMBOLS = {"pass": "✓", "fail": "✗", "error": "E", "skip": "–", "xfail": "x", "xpass": "X"}


@dataclass
class CaseResult:
    id: str
    area: str
    profile: str
    spec: list[str]
    title: str
    format: str = "g1"
    status: str | None = None
    duration: float = 0.0
    message: str | None = None

    @property
    def key(self) -> str:
        return f"{self.id}[{self.profile}]" + ("" if self.format == "g1" else f"({self.format})")


@dataclass
class Results:
    cases: dict[str, CaseResult] = field(default_factory=dict)  # by pytest node id
    meta: dict[str, Any] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # expectations naming no case
    started: float = field(default_factory=time.time)

    def ordered(self) -> list[CaseResult]:
        return sorted(self.cases.values(), key=lambda r: (r.id, r.profile, r.format))

    def counts(self) -> dict[str, Counter[str]]:
        by_area: dict[str, Counter[str]] = {}
        for result in self.ordered():
            by_area.setdefault(result.area, Counter())[result.status or "error"] += 1
        return by_area

    @property
    def passed(self) -> bool:
        return all(r.status in ("pass", "skip", "xfail") for r in self.cases.values())

    @property
    def verdict(self) -> str:
        if not self.passed:
            return "does not conform"
        if all(r.status == "skip" for r in self.cases.values()):
            return "not tested: every case was skipped"
        known = sum(1 for r in self.cases.values() if r.status == "xfail")
        if known:
            return f"as expected: conforms but for {known} known deviation(s)"
        return "conforms"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.meta,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration": round(time.time() - self.started, 2),
            "totals": dict(sum(self.counts().values(), Counter())),
            "stale_expectations": self.stale,
            "cases": [
                {**asdict(r), "duration": round(r.duration, 3), "status": r.status or "error"}
                for r in self.ordered()
            ],
        }

    def write(self, directory: Path, local: dict[str, str] | None = None) -> None:
        """results.json (portable: each `local` text, a path of this machine, replaced by
        its placeholder) and report.md (as run here, paths included, to reproduce)."""
        directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2) + "\n"
        for found, placeholder in sorted((local or {}).items(), key=lambda i: -len(i[0])):
            text = text.replace(json.dumps(found)[1:-1], placeholder)
        (directory / "results.json").write_text(text)
        (directory / "report.md").write_text(self.markdown())

    def _area_table(self) -> list[str]:
        lines = ["| area | " + " | ".join(STATUSES) + " |", "|---" * (len(STATUSES) + 1) + "|"]
        totals: Counter[str] = Counter()
        for area, counts in sorted(self.counts().items()):
            totals += counts
            lines.append(f"| {area} | " + " | ".join(str(counts[s]) for s in STATUSES) + " |")
        lines.append("| **all** | " + " | ".join(f"**{totals[s]}**" for s in STATUSES) + " |")
        return lines

    def markdown(self) -> str:
        meta = self.meta
        lines = [
            f"# Conformance report: {meta.get('implementation', '?')}",
            "",
            f"- implementation: `{meta.get('command', '?')}`",
            f"- harness: kkimage conformance {meta.get('harness_version', '?')}",
            f"- registry: {meta.get('registry', '?')} ({meta.get('backend', '?')} backend)",
            f"- features declared: {', '.join(meta.get('features') or []) or 'none'}",
            f"- verdict: **{self.verdict}**",
            "",
            *self._area_table(),
        ]
        if note := self.undeclared():
            lines += ["", note]
        problems = [r for r in self.ordered() if r.status in PROBLEMS]
        if problems:
            lines += ["", "## Failures", ""]
            for result in problems:
                lines += [
                    f"### {result.key} {result.status}: {result.title}",
                    f"Requirements: {', '.join(result.spec)}",
                    "",
                    "```",
                    (result.message or "").strip(),
                    "```",
                    "",
                ]
        expected = [r for r in self.ordered() if r.status == "xfail"]
        if expected:
            lines += ["", "## Known failures (expectations file)", ""]
            lines += [f"- {r.key}: {r.title} — {r.message}" for r in expected]
        if self.stale:
            lines += ["", "## Stale expectations (no such case)", ""]
            lines += [f"- {case_id}" for case_id in self.stale]
        return "\n".join(lines) + "\n"

    def undeclared(self) -> str | None:
        """What the implementation did not declare and what that cost, in one sentence."""
        missing = self.meta.get("features_not_declared")
        if not missing:
            return None
        skipped = sum(
            1 for r in self.cases.values() if r.status == "skip" and "declare" in (r.message or "")
        )
        return (
            f"features not declared: {', '.join(missing)} — {skipped} case(s) skipped for them "
            "(declare what the implementation supports with --impl-features)"
        )

    def summary_lines(self) -> list[str]:
        """The terminal summary: counts by area, then each problem on one line."""
        meta = self.meta
        title = f" conformance: {meta.get('implementation') or 'implementation'} "
        lines = [title.center(78, "="), *self._area_table()]
        if note := self.undeclared():
            lines.append(note)
        for result in self.ordered():
            if result.status in PROBLEMS:
                first = (result.message or "").strip().splitlines()[:1] or [""]
                lines.append(
                    f"{result.status.upper():5} {result.key} ({', '.join(result.spec)}): "
                    f"{first[0][:160]}"
                )
        for case_id in self.stale:
            lines.append(f"STALE expectation {case_id}: no such case")
        lines.append(f"verdict: {self.verdict} ({len(self.cases)} cases)")
        return lines
