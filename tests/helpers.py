"""Running the kkimage command as a user would, and judging how it ended."""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import subprocess
import sys
from pathlib import Path

import yaml


class Kkimage:
    """Runs `python -m kkimage` in a subprocess, writing task files into a temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.count = 0

    def no_stored_credentials(self) -> dict[str, str]:
        """No docker login or podman login of the machine's reaches a test (each test that
        wants one writes its own)."""
        absent = self.workdir / "no-stored-credentials"
        return {
            "DOCKER_CONFIG": str(absent),
            "REGISTRY_AUTH_FILE": str(absent / "auth.json"),
            "XDG_CONFIG_HOME": str(absent),
        }

    def __call__(self, *args: str, env: dict | None = None, timeout: float = 300):
        environment = {**os.environ, **self.no_stored_credentials(), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "kkimage", *map(str, args)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
        )

    def task_file(self, task: object) -> Path:
        self.count += 1
        path = self.workdir / f"task-{self.count}.yaml"
        path.write_text(yaml.safe_dump(task if isinstance(task, list) else [task]))
        return path

    def run(self, task: object, *extra: str, env: dict | None = None):
        return self(("run"), self.task_file(task), *extra, env=env)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result


def failed(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Assert a clean failure: non-zero, one line on stderr with `fragments`, no traceback."""
    assert result.returncode != 0, (
        f"expected a failure\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    errors = [
        line for line in result.stderr.splitlines() if not line.startswith("kkimage: warning:")
    ]
    assert len(errors) == 1, f"expected one error line, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


def pull_task(store: Path, manifests: list[str], auths: list[dict] | None = None, **extra) -> dict:
    """A KubeKey pull task, as a playbook would hold it."""
    args = {"images_dir": str(store), "manifests": manifests, **extra}
    if auths is not None:
        args["auths"] = auths
    return {"name": "pull", "image": {"pull": args}}


def push_task(store: Path, dest: str, auths: list[dict] | None = None, **extra) -> dict:
    args = {"images_dir": str(store), "dest": dest, **extra}
    if auths is not None:
        args["auths"] = auths
    return {"name": "push", "image": {"push": args}}


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


def resident_in_memory(address: int, size: int) -> int:
    """How many pages of the `size` bytes mapped at `address` are in memory: mincore(2)."""
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vector = (ctypes.c_ubyte * pages)()
    assert _libc().mincore(address, size, vector) == 0, os.strerror(ctypes.get_errno())
    return sum(page & 1 for page in vector)


def resident_pages(path) -> int:
    """How many of the file's pages are in the page cache: mincore(2) on a mapping of it."""
    libc = _libc()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, handle.fileno(), 0)
    try:
        return resident_in_memory(address, size)
    finally:
        libc.munmap(address, size)
