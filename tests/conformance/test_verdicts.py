"""Verdicts that hold up: the harness never reports a correct implementation as failing, never
passes a case it did not test, and says why an expected failure is expected. Each test here
failed on the harness before the fix it guards (issue 9 lists them)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
import yaml

from conformance.expectations import ExpectationsError, load_expectations
from kkimage_fixtures.faultproxy import FaultProxy
from kkimage_fixtures.registry import RunningRegistry
from kkimage_fixtures.target import Target
from tests.conformance.runner import PYTEST, statuses, suite

REFERENCE = f"{sys.executable} -m kkimage run {{task}} --vars {{vars}}"


def test_without_ca_file_the_ca_is_trusted_through_the_environment_never_insecure(tmp_path):
    running = RunningRegistry("tls", "127.0.0.1:5000", True, tmp_path, ca_file="/pki/ca.crt")
    target = Target(running, client=None, ca_file_supported=False)  # type: ignore[arg-type]
    entry = target.auth()
    assert "insecure" not in entry and "ca_file" not in entry
    assert target.trust_environment()["SSL_CERT_FILE"] == "/pki/ca.crt"
    assert Target(running, client=None).trust_environment() == {}  # type: ignore[arg-type]


@pytest.mark.integration
def test_tls_is_judged_truly_for_an_implementation_without_ca_file(tmp_path):
    """The reference without ca_file declared: certificates are still verified (TLS-001
    passes), and insecure still works (TLS-004): neither is decided by the harness."""
    process, results = suite(
        tmp_path, "--impl-cmd", REFERENCE, "--impl-features", "none", "-k", "TLS-001 or TLS-004"
    )
    assert statuses(results) == {
        "TLS-001[basic]": "pass",
        "TLS-001[tls]": "pass",
        "TLS-001[token]": "pass",
        "TLS-001[mtls]": "skip",
        "TLS-004[basic]": "pass",
        "TLS-004[tls]": "pass",
    }, process.stdout


def test_every_mtls_case_needs_a_client_certificate(tmp_path):
    _process, results = suite(
        tmp_path, "--impl-features", "ca_file,policy", "--profiles", "mtls", "-k", "mtls"
    )
    found = {k: v for k, v in statuses(results).items() if k.endswith("[mtls]")}
    assert found and set(found.values()) == {"skip"}, found
    messages = {c["message"] for c in results["cases"] if c["profile"] == "mtls"}
    assert all("client_cert" in m for m in messages), messages


@pytest.mark.integration
@pytest.mark.parametrize(
    "command",
    ["true", "sh -c 'echo something went wrong >&2; exit 1'"],
    ids=["does-nothing", "always-fails"],
)
def test_an_implementation_that_does_nothing_passes_no_case(tmp_path, command):
    """Exit 0 and write nothing, or fail every time with a message naming no cause: every
    case fails in both formats, with a message (never a harness error, never a pass); only
    the cases written for the other format are skipped."""
    declared = ("--impl-features", "all", "--impl-formats", "g1,g2", "-n", "2")
    process, results = suite(tmp_path, "--impl-cmd", command, *declared)
    found = statuses(results)
    assert len(found) >= 300, process.stdout[-2000:]
    others = [c for c in results["cases"] if c["status"] != "fail"]
    assert others and all(
        c["status"] == "skip" and c["message"].startswith("written for") for c in others
    ), others[:3]
    assert all(c["message"] for c in results["cases"])


def _expectations(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "expectations.yaml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.mark.integration
def test_an_expected_failure_must_fail_for_its_stated_reason(tmp_path):
    """The reserialize mutant fails LAYOUT-005 because the root's bytes differ: an entry
    whose `match` says so is an xfail; one expecting another failure is a fail, showing
    the expected reason and the failure seen."""
    path = _expectations(
        tmp_path,
        """\
        implementation: Reserializer 1.0
        cases:
          LAYOUT-005: {reason: "re-serializes roots", match: "differs from the expected bytes"}
          LAYOUT-006: {reason: "claimed: no Docker manifests", match: "unsupported media type"}
        """,
    )
    process, results = suite(
        tmp_path,
        "--impl",
        "mutant:reserialize",
        "--expectations",
        str(path),
        "-k",
        "LAYOUT-005 or LAYOUT-006",
    )
    assert statuses(results) == {"LAYOUT-005[plain]": "xfail", "LAYOUT-006[plain]": "fail"}
    (other,) = [c for c in results["cases"] if c["id"] == "LAYOUT-006"]
    assert "claimed: no Docker manifests" in other["message"]
    assert "/unsupported media type/" in other["message"]
    assert "differs from the expected bytes" in other["message"]
    assert results["implementation"] == "Reserializer 1.0"  # the file's name, not a path
    assert process.returncode == 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("cases: {PLAT-001: {reason: x, match: '(unclosed'}}", "invalid match"),
        ("cases: {PLAT-001: {match: x}}", "expected a reason"),
        ("cases: {PLAT-001: {reason: x, because: y}}", "unknown keys because"),
        ("implementation: x\nextra: 1", "expected a mapping"),
    ],
)
def test_a_malformed_expectations_file_is_one_clear_error(tmp_path, body, error):
    with pytest.raises(ExpectationsError, match=error):
        load_expectations(_expectations(tmp_path, body))


def test_the_kubekey_expectations_say_why_and_where(tmp_path):
    """Every entry of the KubeKey files states the failure it expects and the source."""
    directory = Path(__file__).resolve().parents[2] / "conformance" / "expectations"
    files = sorted(directory.glob("kubekey-*.yaml"))
    assert files
    for path in files:
        expectations = load_expectations(path)
        assert expectations.implementation and expectations.implementation.startswith("KubeKey")
        for case_id, entry in expectations.cases.items():
            assert entry.match is not None and entry.source, f"{path.name}: {case_id}"


def test_a_run_of_one_task_mapping_writes_a_mapping(tmp_path):
    """TASK-001 gives the implementation one task as a mapping, as its title says."""
    record = tmp_path / "seen.yaml"
    recorder = f"cp {{task}} {record}"
    _process, _results = suite(
        tmp_path, "--impl-cmd", recorder, "--impl-features", "task_mapping", "-k", "TASK-001"
    )
    seen = yaml.safe_load(record.read_text())
    assert isinstance(seen, dict) and set(seen) == {"name", "image"}, seen
    assert "pull" in seen["image"]


def test_undeclared_features_are_named_in_the_report(tmp_path):
    """--impl-cmd declares nothing unless told: cases needing more are skipped, and the
    report says which features were not declared and what that skipped."""
    process, results = suite(tmp_path, "--impl-cmd", "true", "-k", "LAYOUT-008 or COPY-003")
    assert statuses(results) == {"LAYOUT-008[plain]": "skip", "COPY-003[none]": "skip"}
    assert results["features"] == [] and "digest_pull" in results["features_not_declared"]
    assert "features not declared: archives, ca_file" in process.stdout
    assert "2 case(s) skipped for them" in process.stdout


def test_an_unknown_implementation_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [*PYTEST, "--impl", "nope"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 4 and "no implementation 'nope'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_results_are_portable(tmp_path):
    """results.json names no path of the machine that ran it."""
    _process, results = suite(tmp_path, "--impl-cmd", "true", "-k", "LAYOUT-005")
    text = json.dumps(results)
    assert str(tmp_path) not in text and sys.executable not in text, text[:2000]
    assert "$TMP/" in text


@pytest.mark.integration
def test_the_fault_proxy_is_quiet_when_a_client_hangs_up(capfd):
    """A client resetting the connection mid-answer (an implementation killed on purpose)
    is routine: no traceback in the test output."""
    upstream = FaultProxy("http://127.0.0.1:1")  # answers 502 itself: no registry needed
    with upstream as proxy:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", proxy.port))
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST, with the body half sent
        assert requests.get(proxy.url + "/v2/", timeout=30).status_code == 502
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
