"""The peer benchmark keeps working (a small workload, skopeo as the one peer here; crane and
regctl take minutes to build), and its verification refuses an output that lacks anything,
so that no contender is timed for doing less."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # peers.py imports its sibling transfer.py

import peers  # noqa: E402
from transfer import Workload  # noqa: E402


@pytest.mark.integration
def test_quick_peer_benchmark_reports_every_job_with_its_best_peer(tmp_path):
    output = tmp_path / "peers.md"
    command = [sys.executable, str(BENCHMARKS / "peers.py"), "--quick", "--peers", "skopeo"]
    result = subprocess.run(
        [*command, "--output", str(output)], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = output.read_text()
    for job in ("pull", "push", "copy", "pull, 8 MiB/s per connection", "pull, 50 ms per request"):
        assert re.search(rf"^\| {job}, 2 images \| [\d.]+ \| skopeo, ", report, re.M), job
    for way in ("skopeo, a loop", "skopeo, 4 at a time", "kkimage"):
        assert f"| pull, 2 images | {way} |" in report
    # requests and connections counted at the proxy of the slow links
    assert re.search(r"\| pull, 50 ms per request, 2 images \| kkimage \|.*\| \d+ / \d+ \|", report)
    assert "no-op re-run of the 2 images" in report and "peak RSS" in report


def _layout(directory: Path, image) -> None:
    """An OCI layout of `image`, as a peer would write it."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for digest, content in {**image.blobs, **image.manifests, image.digest: image.root}.items():
        (blobs / digest[7:]).write_bytes(content.data)
    index = {"schemaVersion": 2, "manifests": [image.root.descriptor()]}
    (directory / "index.json").write_text(json.dumps(index))


def test_verification_refuses_a_missing_or_damaged_blob_and_a_missing_root(tmp_path):
    corpus = Workload(count=1, layer=4096, big=0).images()
    (image,) = corpus.values()
    out = tmp_path / "out"
    _layout(out / image.name, image)
    peers.verify_directory(out, corpus, "unused", "crane")  # complete: accepted
    layer = (
        out / image.name / "blobs/sha256" / max(image.blobs, key=lambda d: image.blobs[d].size)[7:]
    )
    layer.write_bytes(b"x" + layer.read_bytes()[1:])
    with pytest.raises(SystemExit, match=r"did not store .* intact"):
        peers.verify_directory(out, corpus, "unused", "crane")
    layer.unlink()
    with pytest.raises(SystemExit, match="did not store"):
        peers.verify_directory(out, corpus, "unused", "crane")
    _layout(tmp_path / "other" / image.name, image)
    (tmp_path / "other" / image.name / "index.json").write_text('{"manifests": []}')
    with pytest.raises(SystemExit, match="did not store the root"):
        peers.verify_directory(tmp_path / "other", corpus, "unused", "crane")
