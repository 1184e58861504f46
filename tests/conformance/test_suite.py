"""The conformance suite is tested too: its corpus is consistent, every mutant is caught, and
its options, expectations and reports do what docs/conformance.md says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cases import NO_REGISTRY, lint, load_cases, spec_requirements
from conformance.checks import all_checks
from conformance.compare import changes, columns, page
from conformance.compare import markdown as compare
from conformance.mutants import CATCHES
from kkimage_fixtures.dockerd import REQUIRED
from tests.conformance.runner import PYTEST, statuses, suite

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
CASES = load_cases()


def test_corpus_is_consistent():
    problems = lint(CASES, spec_requirements(SPEC.read_text()), set(all_checks()))
    assert problems == []


def test_size_and_reach():
    pairs = [(case.id, profile) for case in CASES for profile in case.profiles]
    assert len(CASES) >= 60
    assert {p for _, p in pairs} == {"plain", "basic", "tls", "token", "mtls", NO_REGISTRY}


def test_every_mutant_names_catching_cases_that_exist():
    ids = {case.id for case in CASES}
    assert len(CATCHES) >= 12
    for name, (_, catches) in CATCHES.items():
        assert catches and set(catches) <= ids, name


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(CATCHES))
def test_every_mutant_is_caught(tmp_path, name):
    _, catches = CATCHES[name]
    process, results = suite(tmp_path, "--impl", f"mutant:{name}", "-k", " or ".join(catches))
    found = statuses(results)
    assert found, process.stdout + process.stderr
    assert process.returncode == 1
    assert "fail" in found.values(), f"mutant {name} survived: {found}"


@pytest.mark.integration
def test_failure_messages_say_what_and_how_to_reproduce(tmp_path):
    _, results = suite(tmp_path, "--impl", "mutant:reserialize", "-k", "LAYOUT-005")
    (case,) = results["cases"]
    assert case["status"] == "fail"
    for fragment in ("expected:", "found:", "task file:", "reproduce:", "kkimage run"):
        assert fragment in case["message"]
    report = (tmp_path / "results" / "report.md").read_text()
    assert "LAYOUT-005[plain] fail" in report and "does not conform" in report


@pytest.mark.integration
def test_expectations_are_strict_and_stale_entries_reported(tmp_path):
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text(
        "cases:\n  LAYOUT-005: 'known to fail'\n  COPY-001: 'passes in fact'\n  NOPE-999: old\n"
    )
    process, results = suite(
        tmp_path,
        "--impl",
        "mutant:reserialize",
        "--expectations",
        str(expectations),
        "-k",
        "LAYOUT-005 or COPY-001",
    )
    assert statuses(results) == {"LAYOUT-005[plain]": "xfail", "COPY-001[none]": "xpass"}
    assert process.returncode == 1  # the unexpected pass fails the run
    assert results["stale_expectations"] == ["NOPE-999"]
    assert "STALE expectation NOPE-999" in process.stdout


@pytest.mark.integration
def test_impl_cmd_and_features(tmp_path):
    command = f"{sys.executable} -m kkimage run {{task}} --vars {{vars}}"
    process, results = suite(
        tmp_path,
        "--impl-cmd",
        command,
        "--impl-features",
        "policy",
        "-k",
        "LAYOUT-005 or LAYOUT-008 or PLAT-018",
    )
    assert process.returncode == 0, process.stdout
    assert statuses(results) == {
        "LAYOUT-005[plain]": "pass",
        "LAYOUT-008[plain]": "skip",
        "PLAT-018[plain]": "pass",
    }
    assert results["implementation"] == "python"  # the command's first word, made portable
    assert results["command"] == "python -m kkimage run {task} --vars {vars}"


@pytest.mark.integration
def test_a_broken_registry_is_an_error_never_a_pass(tmp_path):
    process, results = suite(
        tmp_path,
        "--registry-backend",
        "external",
        "--registry-url",
        "http://127.0.0.1:1",
        "--impl-formats",
        "g1",
        "-k",
        "LAYOUT-005",
    )
    assert statuses(results) == {"LAYOUT-005[plain]": "error"}
    assert process.returncode != 0


NO_DOCKER = r"no Docker engine answers|the docker backend needs the Docker SDK"


@pytest.mark.parametrize("required", ["", "1"], ids=["skips", "required-in-ci"])
def test_the_docker_backend_without_an_engine_skips_or_is_refused(tmp_path, required):
    """Without an engine, the cases that need a registry skip saying why (the others run);
    where KKIMAGE_REQUIRE_DOCKER=1 (CI) the run is refused in one line."""
    nowhere = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", REQUIRED: required}
    process, results = suite(
        tmp_path, "--registry-backend", "docker", "-k", "LAYOUT-005 or ARCH-001", env=nowhere
    )
    if required:
        assert process.returncode == 4 and not results
        (line,) = [x for x in process.stderr.splitlines() if x.strip()]
        assert re.search(NO_DOCKER, line) and REQUIRED in line, process.stderr
        return
    assert process.returncode == 0, process.stdout[-2000:]
    found = {c["id"]: c for c in results["cases"] if c["format"] == "g1"}
    assert found["ARCH-001"]["status"] == "pass"  # needs no registry
    assert found["LAYOUT-005"]["status"] == "skip"
    assert re.match(f"no registries: ({NO_DOCKER})", found["LAYOUT-005"]["message"])
    process, _ = suite(tmp_path, "--registry-backend", "docker", "-k", "LAYOUT-005", env=nowhere)
    assert "verdict: not tested: every case was skipped" in process.stdout  # never "conforms"


def test_selection_by_marker_and_profile(tmp_path):
    command = [*PYTEST, "--collect-only", "-q"]
    marked = subprocess.run(
        [*command, "-m", "templates"], capture_output=True, text=True, cwd=tmp_path
    )
    ids = [line for line in marked.stdout.splitlines() if "test_case[" in line]
    assert ids and all("TMPL-" in line for line in ids)
    token = subprocess.run(
        [*command, "--profiles", "token"], capture_output=True, text=True, cwd=tmp_path
    )
    ids = [line for line in token.stdout.splitlines() if "test_case[" in line]
    # CASE-profile-format: the reference speaks both formats
    assert {line.rstrip("]").rsplit("-", 2)[1] for line in ids} == {"token", "none"}
    assert {line.rstrip("]").rsplit("-", 1)[1] for line in ids} == {"g1", "g2"}


def test_compare_builds_a_matrix(tmp_path):
    def run(name: str, status: str) -> Path:
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        cases = [
            {"id": "LAYOUT-001", "profile": "plain", "status": status, "title": "t"},
            {"id": "PLAT-003", "profile": "plain", "status": "pass", "title": "u"},
        ]
        path.write_text(json.dumps({"implementation": name, "cases": cases}))
        return path

    matrix = compare([run("reference", "pass"), run("kubekey", "xfail")])
    assert "| case | reference | kubekey | title |" in matrix
    assert "| LAYOUT-001[plain] | ✓ | x | t |" in matrix
    assert "| **passed** | 2/2 | 1/2 | |" in matrix
    paths = []
    for registry in ("registry 2.8.2", "registry v3.1.2"):
        paths.append(tmp_path / registry / "results.json")
        paths[-1].parent.mkdir()
        run_ = {"implementation": "reference", "registry": registry, "cases": []}
        paths[-1].write_text(json.dumps(run_))
    header = compare(paths).splitlines()[0]  # one implementation's runs: named by registry
    assert header == "| case | reference on registry 2.8.2 | reference on registry v3.1.2 | title |"
    cli = subprocess.run(
        [sys.executable, "-m", "conformance", "compare", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2 and "no such file" in cli.stderr


def _release(tmp_path: Path, name: str, statuses: dict[str, str], format: str = "g1") -> Path:
    path = tmp_path / name / "results.json"
    path.parent.mkdir(exist_ok=True)
    cases = [
        {
            "id": case_id,
            "profile": "plain",
            "format": format,
            "area": case_id.split("-")[0].lower(),
            "status": status,
            "title": f"title of {case_id}",
            "message": f"why {case_id} is {status} in {name}",
        }
        for case_id, status in statuses.items()
    ]
    path.write_text(json.dumps({"implementation": name, "cases": cases}))
    return path


def test_compare_names_every_change_and_marks_regressions(tmp_path):
    old = _release(tmp_path, "v1", {"AUTH-006": "pass", "PLAT-003": "xfail", "TLS-001": "pass"})
    new = _release(tmp_path, "v2", {"AUTH-006": "xfail", "PLAT-003": "pass", "TLS-001": "pass"})
    found = changes(columns([old, new]))
    assert [(c.key[0], c.old, c.new, c.regression) for c in found] == [
        ("AUTH-006", "pass", "xfail", True),
        ("PLAT-003", "xfail", "pass", False),
    ]
    text = compare([old, new])
    assert "- AUTH-006[plain]: v1 pass → v2 xfail **regression**" in text
    assert "- PLAT-003[plain]: v1 xfail → v2 pass\n" in text


def test_compare_gives_a_run_in_two_formats_two_columns(tmp_path):
    path = tmp_path / "ref" / "results.json"
    path.parent.mkdir()
    cases = [
        {"id": "COPY-001", "profile": "none", "format": f, "status": "pass", "title": "t"}
        for f in ("g1", "g2")
    ]
    path.write_text(json.dumps({"implementation": "reference", "cases": cases}))
    assert [c.name for c in columns([path])] == ["reference (g1)", "reference (g2)"]


def test_the_html_matrix_is_self_contained_and_shows_each_cell(tmp_path):
    from html.parser import HTMLParser

    old = _release(tmp_path, "v1", {"AUTH-006": "pass", "PLAT-003": "skip"})
    new = _release(tmp_path, "v2", {"AUTH-006": "xfail", "PLAT-003": "pass"})
    text = page([old, new])

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[dict] = []
            self.groups: list[str] = []
            self.external: list[str] = []
            self._group = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "td" and "cell" in attrs.get("class", ""):
                self.cells.append(attrs)
            if tag in ("script", "link", "img") and (attrs.get("src") or attrs.get("href")):
                self.external.append(tag)
            self._group = tag == "th" and attrs.get("colspan") is not None

        def handle_data(self, data):
            if self._group:
                self.groups.append(data)
                self._group = False

    parser = Cells()
    parser.feed(text)
    assert parser.external == [] and "http" not in text.replace("http-equiv", "")
    assert parser.groups == ["auth", "plat"]  # grouped by area
    statuses = [c["data-status"] for c in parser.cells]
    assert statuses == ["pass", "xfail", "skip", "pass"]
    regressed = [c for c in parser.cells if "regression" in c["class"]]
    assert [c["data-status"] for c in regressed] == ["xfail"]
    assert "why AUTH-006 is xfail in v2" in regressed[0]["title"]
    assert 'style="background:#2e7d32"' in text  # a pass is green


def test_the_plugin_loads_without_the_harness():
    """pytest loads the plugin in every run of an environment with kkimage installed: it must
    not need cryptography, pyjwt or bcrypt (the harness extra) to merely load."""
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in ("cryptography", "jwt", "bcrypt"))
    code = f"import sys; {blocked}; import conformance.plugin"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
