"""The pytest plugin: options, registries per profile, cases as parametrized tests, verdicts.

Loaded through the `pytest11` entry point; it does nothing unless conformance cases are
collected (`pytest --pyargs conformance`). What needs the test harness (registries, TLS,
tokens: the `harness` extra) is imported only then, so that installing kkimage alone does
not break other projects' pytest runs.
"""

from __future__ import annotations

import os
import platform as host_platform
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .cases import AREAS, NO_REGISTRY, PROFILES, Case, load_cases
from .expectations import Expectations, ExpectationsError, load_expectations
from .implementations import FEATURES, Implementation, ImplementationError, load_implementation
from .report import PROBLEMS, CaseResult, Results

CASE_FIXTURE = "conformance_case"
_EXPECTATIONS = pytest.StashKey[Expectations]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "KubeKey image module conformance (kkimage)")
    add = group.addoption
    add(
        "--impl",
        default=None,
        metavar="NAME",
        help="implementation: reference (default), mutant:<name>, or an installed adapter",
    )
    add(
        "--impl-cmd",
        default=None,
        metavar="TEMPLATE",
        help="command for another implementation; {task} and {vars} are replaced by paths",
    )
    add(
        "--impl-features",
        default=None,
        metavar="LIST",
        help="features the implementation supports: all, none, or some of "
        f"{','.join(sorted(FEATURES))} (default: the reference and adapters declare their own, "
        "--impl-cmd declares none)",
    )
    add(
        "--impl-formats",
        default=None,
        metavar="LIST",
        help="argument formats the implementation speaks: g1 (pull/push/copy), g2 "
        "(manifests/src/dest), or g1,g2; every case runs in each (default: the reference "
        "speaks both, an adapter says, --impl-cmd speaks g1)",
    )
    add(
        "--kk-binary",
        default=None,
        metavar="PATH",
        help="--impl kubekey: the kk binary to run (default: $KKIMAGE_KK_BINARY)",
    )
    add(
        "--impl-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="time limit for one run of the implementation (default 600)",
    )
    add(
        "--expectations",
        default=None,
        metavar="FILE",
        help="YAML of cases the implementation is known to fail, each with a reason and a "
        "pattern for its failure (a failure for another reason, or a pass, fails the run)",
    )
    add(
        "--registry-backend",
        choices=("binary", "docker", "external"),
        default="binary",
        help="how registries are started (default: the distribution binary)",
    )
    add(
        "--portless",
        action="store_true",
        help="binary backend: each registry (and fault proxy) on a loopback address of its "
        "own at port 443 or 80, so that image names carry no port (KubeKey >= v4.0.4 "
        "refuses host:port names); needs root",
    )
    add(
        "--registry-image",
        default=None,
        help="docker backend: the registry image (default registry:2; python -m "
        "kkimage_fixtures.registry_image builds one from a registry binary)",
    )
    add("--registry-url", default=None, help="external backend: the registry URL")
    add("--registry-username", default=None)
    add("--registry-password", default=None)
    add("--registry-ca-file", default=None)
    add(
        "--profiles",
        default=",".join(PROFILES),
        metavar="LIST",
        help=f"registry profiles to run (default: all of {','.join(PROFILES)})",
    )
    add(
        "--results-dir",
        default=None,
        metavar="DIR",
        help="write results.json, junit.xml and report.md there",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a conformance case")
    for area in AREAS.values():
        config.addinivalue_line("markers", f"{area}: conformance cases of area {area}")
    results_dir = config.getoption("--results-dir")
    if results_dir and not config.getoption("xmlpath", None) and not hasattr(config, "workerinput"):
        Path(results_dir).mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(Path(results_dir) / "junit.xml")
    try:
        config.stash[_EXPECTATIONS] = load_expectations(config.getoption("--expectations"))
    except ExpectationsError as exc:
        raise pytest.UsageError(str(exc)) from None
    named = config.getoption("--impl") or config.getoption("--impl-cmd")
    if named or config.getoption("--registry-backend") == "docker":
        _session(
            config
        )  # a usage error (no such adapter, no kk binary, no engine) now, in one line
    config.pluginmanager.register(Reporter(config), "kkimage-conformance-reporter")


@dataclass
class _Session:
    impl: Implementation
    profiles: tuple[str, ...]
    backend: str
    external_profile: str | None = None
    no_registries: str | None = None  # why the backend cannot start registries here
    cases: list[Case] = field(default_factory=load_cases)


def _session(config: pytest.Config) -> _Session:
    if not hasattr(config, "_conformance_session"):
        expectations = config.stash[_EXPECTATIONS]
        features = config.getoption("--impl-features") or expectations.features
        if config.getoption("--kk-binary"):  # for the adapter, here and in xdist workers
            os.environ["KKIMAGE_KK_BINARY"] = config.getoption("--kk-binary")
        try:
            impl = load_implementation(
                config.getoption("--impl"),
                config.getoption("--impl-cmd"),
                features,
                config.getoption("--impl-timeout"),
                config.getoption("--impl-formats") or expectations.formats,
            )
            impl.check_usable()
        except ImplementationError as exc:
            raise pytest.UsageError(str(exc)) from None
        if expectations.implementation:
            impl.name = expectations.implementation
        profiles = tuple(p.strip() for p in config.getoption("--profiles").split(",") if p.strip())
        unknown = set(profiles) - set(PROFILES)
        if unknown:
            raise pytest.UsageError(f"unknown profiles {sorted(unknown)}; profiles: {PROFILES}")
        backend = config.getoption("--registry-backend")
        if config.getoption("--portless") and backend != "binary":
            raise pytest.UsageError("--portless needs --registry-backend binary")
        external = None
        if backend == "external":
            from kkimage_fixtures.launchers import ExternalLauncher

            url = config.getoption("--registry-url")
            if not url:
                raise pytest.UsageError("--registry-backend external needs --registry-url")
            external = ExternalLauncher(url, config.getoption("--registry-username")).profile
        no_registries = _docker_unavailable(config) if backend == "docker" else None
        config._conformance_session = _Session(impl, profiles, backend, external, no_registries)  # type: ignore[attr-defined]
    return config._conformance_session  # type: ignore[attr-defined]


def _docker_unavailable(config: pytest.Config) -> str | None:
    """Why the docker backend has no engine or image here: the cases that need a registry
    skip for it, or (KKIMAGE_REQUIRE_DOCKER=1, as in CI) the run is refused."""
    from kkimage_fixtures.dockerd import REQUIRED, required
    from kkimage_fixtures.launchers import RegistryUnavailable, make_launcher

    try:
        make_launcher("docker", image=config.getoption("--registry-image")).engine()
    except RegistryUnavailable as reason:
        if required():
            raise pytest.UsageError(f"--registry-backend docker ({REQUIRED}=1): {reason}") from None
        return str(reason)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    params = []
    formats = session.impl.formats
    for case, profile, format in (
        (c, p, f) for c in session.cases for p in c.profiles for f in formats
    ):
        if profile != NO_REGISTRY and profile not in session.profiles:
            continue
        marks = [pytest.mark.conformance, getattr(pytest.mark, case.area)]
        if format not in case.formats:
            marks.append(
                pytest.mark.skip(
                    reason=f"written for {', '.join(case.formats)} only: {case.only_because}"
                )
            )
        missing = [f for f in case.requirements(profile) if not session.impl.supports(f)]
        if missing:
            marks.append(
                pytest.mark.skip(
                    reason=f"{session.impl.name} does not declare {', '.join(missing)}"
                )
            )
        if session.no_registries and profile != NO_REGISTRY:
            marks.append(pytest.mark.skip(reason=f"no registries: {session.no_registries}"))
        if session.external_profile and profile not in (NO_REGISTRY, session.external_profile):
            marks.append(
                pytest.mark.skip(
                    reason=f"the external registry offers profile {session.external_profile}"
                )
            )
        name = f"{case.id}-{profile}" + (f"-{format}" if len(formats) > 1 else "")
        params.append(pytest.param((case, profile, format), id=name, marks=marks))
    metafunc.parametrize(CASE_FIXTURE, params)


# ---- fixtures ---------------------------------------------------------------------------------


class _Targets:
    """One registry per profile for the session (per xdist worker), started on first use."""

    def __init__(self, config: pytest.Config, workdir: Path, ca_file: bool) -> None:
        """`ca_file`: whether the implementation takes ca_file (else entries say insecure)."""
        from kkimage_fixtures.launchers import make_launcher

        backend = config.getoption("--registry-backend")
        self.launcher = make_launcher(
            backend,
            image=config.getoption("--registry-image"),
            url=config.getoption("--registry-url"),
            username=config.getoption("--registry-username"),
            password=config.getoption("--registry-password"),
            ca_file=config.getoption("--registry-ca-file"),
            portless=config.getoption("--portless"),
        )
        self.workdir = workdir
        self.ca_file = ca_file
        self._pki = None
        self._targets: dict[str, Any] = {}

    def get(self, profile: str) -> Any:
        """The seeded `kkimage_fixtures.target.Target` of `profile`."""
        if profile not in self._targets:
            from kkimage_fixtures.pki import generate
            from kkimage_fixtures.target import Target

            if self._pki is None:
                self._pki = generate(self.workdir / "pki")
            running = self.launcher.start(profile, self.workdir / profile, self._pki)
            try:
                self._targets[profile] = Target.seeded(running)
                self._targets[profile].ca_file_supported = self.ca_file
            except Exception:
                running.stop()
                raise
        return self._targets[profile]

    def stop(self) -> None:
        for target in self._targets.values():
            target.running.stop()


@pytest.fixture(scope="session")
def conformance_targets(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    ca_file = _session(request.config).impl.supports("ca_file")
    targets = _Targets(request.config, tmp_path_factory.mktemp("registries"), ca_file)
    yield targets
    targets.stop()


@pytest.fixture
def conformance_context(request: pytest.FixtureRequest, tmp_path: Path, conformance_targets):
    from .context import case_context

    case, profile, format = request.getfixturevalue(CASE_FIXTURE)
    session = _session(request.config)
    target = None if profile == NO_REGISTRY else conformance_targets.get(profile)
    namespace = f"c{uuid.uuid4().hex[:10]}"
    with case_context(
        case=case,
        profile=profile,
        impl=session.impl,
        tmp=tmp_path,
        namespace=namespace,
        target=target,
        format=format,
        expected=request.config.stash[_EXPECTATIONS].get(case.id, profile),
    ) as ctx:
        yield ctx


def run_case(ctx) -> None:
    """The body of every conformance test: the check, then the verdict against the
    expectations file. An expected failure must fail for its stated reason; a harness error
    stays an error whatever the file says."""
    from .checks import all_checks
    from .context import CaseFailure, UnexpectedPass

    expected = ctx.expected
    try:
        try:
            all_checks()[ctx.case.check](ctx, **ctx.case.params)
        except CaseFailure:
            raise
        except AssertionError as exc:  # a plain assert in a check is a verdict too
            raise ctx.fail(str(exc)) from None
    except CaseFailure as failure:
        if expected is None:
            raise
        if not expected.explains(str(failure)):
            raise CaseFailure(
                f"expected to fail because {expected.describe()}, but it failed otherwise:\n"
                f"{failure}"
            ) from None
        pytest.xfail(expected.reason)
    if expected is not None:
        raise UnexpectedPass(
            f"XPASS(strict) listed in the expectations file ({expected.reason}), but it passed"
        )


# ---- verdicts ---------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    if callspec is None or CASE_FIXTURE not in callspec.params:
        return
    case, profile, format = callspec.params[CASE_FIXTURE]
    report.user_properties.extend(
        [
            ("case", case.id),
            ("area", case.area),
            ("profile", profile),
            ("format", format),
            ("spec", ",".join(case.spec)),
            ("title", case.title),
        ]
    )
    if report.when == "call" and report.failed and call.excinfo is not None:
        harness = not isinstance(call.excinfo.value, AssertionError)
        report.user_properties.append(("harness_error", "yes" if harness else "no"))


class Reporter:
    """Collects verdicts (on the xdist controller too) and writes the reports at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results = Results()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.results.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if "case" not in properties:
            return
        result = self.results.cases.setdefault(
            report.nodeid,
            CaseResult(
                id=properties["case"],
                area=properties["area"],
                profile=properties["profile"],
                format=properties["format"],
                spec=properties["spec"].split(","),
                title=properties["title"],
            ),
        )
        result.duration += report.duration
        status = _status(report, properties)
        if status is not None and (result.status in ("pass", None) or status == "error"):
            result.status = status
            if status in PROBLEMS:
                result.message = _message(report)
            else:
                result.message = (
                    str(getattr(report, "wasxfail", "")) or _skip_reason(report) or None
                )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = self.config
        if hasattr(config, "workerinput") or not self.results.cases:
            return
        meta = _session(config)
        self.results.meta = {
            "implementation": meta.impl.name,
            "command": meta.impl.describe(),
            "features": sorted(meta.impl.features),
            "features_not_declared": sorted(FEATURES - meta.impl.features),
            "formats": list(meta.impl.formats),
            "harness_version": __version__,
            "registry": _registry_version(config),
            "backend": meta.backend,
            "host": f"{host_platform.system()} {host_platform.machine()}",
        }
        known = {case.id for case in meta.cases}
        self.results.stale = sorted(set(config.stash[_EXPECTATIONS].cases) - known)
        directory = config.getoption("--results-dir")
        if directory:
            basetemp = config._tmp_path_factory.getbasetemp()  # the workers' live below it
            local = {str(basetemp): "$TMP", sys.executable: "python"}
            if getattr(meta.impl, "binary", None):
                local[meta.impl.binary] = Path(meta.impl.binary).name
            self.results.write(Path(directory), local)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.results.cases:
            return
        for line in self.results.summary_lines():
            terminalreporter.write_line(line)


def _status(report: pytest.TestReport, properties: dict[str, str]) -> str | None:
    if report.when in ("setup", "teardown"):
        if report.failed:
            return "error"
        if report.skipped and report.when == "setup":
            return "xfail" if hasattr(report, "wasxfail") else "skip"
        return None
    if report.skipped:
        return "xfail" if hasattr(report, "wasxfail") else "skip"
    if report.passed:
        return "xpass" if hasattr(report, "wasxfail") else "pass"
    if "XPASS(strict)" in str(report.longrepr):
        return "xpass"
    return "error" if properties.get("harness_error") == "yes" else "fail"


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    for prefix in ("conformance.context.CaseFailure: ", "CaseFailure: "):
        text = text.removeprefix(prefix)
    return text.strip()


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


def _registry_version(config: pytest.Config) -> str:
    backend = config.getoption("--registry-backend")
    if backend == "external":
        return f"external {config.getoption('--registry-url')}"
    try:
        if backend == "docker":
            from kkimage_fixtures.launchers import make_launcher

            return make_launcher("docker", image=config.getoption("--registry-image")).describe()
        from kkimage_fixtures.registry import find_binary, registry_version

        return registry_version(find_binary())
    except Exception:
        return "unknown"
