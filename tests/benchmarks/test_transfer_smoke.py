"""The benchmark itself keeps working (a small workload); timings are not judged here, only
what the benchmark reports as facts: no bytes on a re-run, one upload and mounts for a
shared layer, bounded memory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "transfer.py"


@pytest.mark.integration
def test_quick_benchmark_reports_every_row(tmp_path):
    output = tmp_path / "report.md"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = output.read_text()
    for row in (
        "pull: kkimage / skopeo",
        "push: kkimage / skopeo",
        "raw parallel fetch into files",
        "raw parallel fetch, bytes discarded",
        "throttled pull",
        "throttled push",
        "no-op re-run",
        "peak RSS",
    ):
        assert row in report
    assert "| no-op re-run: blob bytes transferred | 0 |" in report
    assert "| shared base layer: uploads / mounts | 1 / 1 (of 2 repositories) |" in report
    # CPU is counted for the command and for the registry serving it
    cpu = re.search(r"\| push, kkimage \| [\d.]+ \| [\d., ]+ \| ([\d.]+) / ([\d.]+) \|", report)
    assert float(cpu[1]) > 0 and float(cpu[2]) > 0
    distinct = re.search(r"\| distinct blobs \| \d+, ([\d.]+) MiB \|", report)[1]
    assert f"| push to new repositories: bytes uploaded | {distinct} MiB |" in report
