"""A new file written around the page cache (O_DIRECT), for the blobs a store keeps.

A pulled layer is seldom read again soon, so copying it into the page cache only costs: the
copy into newly allocated cache pages was the largest single cost of a pull
(docs/performance.md), and a pull of gigabytes would evict what the machine was caching.
Whole aligned blocks go straight to the disk from reused page-aligned buffers; the last
partial block goes through the cache, and so does everything on a file system that refuses
O_DIRECT (tmpfs on older kernels, some network file systems). Durability is unchanged: the
caller still fsyncs (the drive's own cache and the file's metadata need it).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path

BLOCK = 1 << 20  # bytes gathered before each direct write
ALIGN = 4096  # of offsets and lengths: a multiple of every common logical block size
_DIRECT = getattr(os, "O_DIRECT", 0)
# Private and populated at once: a shared anonymous mapping (mmap's default) takes one
# page fault per 4 KiB page as it is first written, in shmem's slower path.
_PRIVATE_PREFAULTED = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
_spare_blocks: list[memoryview] = []  # of files closed; as many as were ever open at once
_spare_lock = threading.Lock()


def _take_block() -> memoryview:
    """A page-aligned block (anonymous mmap): one a closed file gave back, or a new one."""
    with _spare_lock:
        if _spare_blocks:
            return _spare_blocks.pop()
    return memoryview(mmap.mmap(-1, BLOCK, flags=_PRIVATE_PREFAULTED))


class UncachedFile:
    """A new file at `path` (refused if it exists), filled by `write_from`; what `flush()`
    has not handed on when it is closed is dropped."""

    def __init__(self, path: Path) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self.direct = bool(_DIRECT)
        try:
            self.fd = os.open(path, flags | _DIRECT, 0o644)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not self.direct:
                raise
            self.fd, self.direct = os.open(path, flags, 0o644), False
        self._block, self._used = _take_block(), 0

    def fileno(self) -> int:
        return self.fd

    def write_from(self, readinto: Callable[[memoryview], int]) -> None:
        """Write what `readinto` puts straight into the block, until it puts nothing."""
        while got := readinto(self._block[self._used :]):
            self._used += got
            if self._used == BLOCK:
                self._write(self._block)
                self._used = 0

    def flush(self) -> None:
        """Everything written so far handed to the kernel: the aligned part of the block
        directly, its tail (then and from now on) through the page cache."""
        aligned = self._used - self._used % ALIGN
        self._write(self._block[:aligned])
        self._through_cache()
        self._write(self._block[aligned : self._used])
        self._used = 0

    def _write(self, view: memoryview) -> None:
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self._through_cache()  # this file system takes no O_DIRECT writes

    def _through_cache(self) -> None:
        if self.direct:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_DIRECT)
            self.direct = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            with _spare_lock:
                _spare_blocks.append(self._block)

    def __enter__(self) -> UncachedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
