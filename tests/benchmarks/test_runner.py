"""Between runs the benchmark sets each run's files aside instead of deleting them: on ext4
without a journal, inodes freed in the last minute slow down every file created after them
(docs/performance.md, "Files set aside"). What a run wrote must still not burden the next one:
it leaves the scratch directory and the page cache."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import resident_pages

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import transfer


def test_a_runs_files_are_set_aside_uncached_and_deleted_only_after_the_job(tmp_path):
    runner = transfer.Runner(tmp_path, jobs=1, quiet=60.0)
    written = runner.fresh("out") / "blobs" / "layer"
    written.parent.mkdir(parents=True)
    written.write_bytes(b"x" * (1 << 20))
    inode = written.stat().st_ino
    runner.clean()
    assert not (tmp_path / "scratch").exists()  # the next run starts with nothing of it
    (kept,) = (tmp_path / "attic").rglob("layer")
    assert kept.stat().st_ino == inode  # moved, not deleted
    assert resident_pages(kept) == 0  # out of the page cache, as a deleted file would be
    runner.empty_attic()
    assert not (tmp_path / "attic").exists()


def test_a_jobs_first_run_waits_until_the_last_deletion_is_quiet_seconds_old(tmp_path, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(transfer.time, "sleep", slept.append)
    runner = transfer.Runner(tmp_path, jobs=1, quiet=60.0)
    runner.settle()  # nothing deleted yet
    runner.empty_attic()
    runner.settle()
    assert slept[0] == 0.0 and 59.0 < slept[1] <= 60.0
