"""Temporary files being written, so that an interrupted run can remove them before it exits
(its transfers may still be blocked in the network: the process does not wait for them)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from .errors import Cancelled

_live: set[Path] = set()
_lock = threading.Lock()
_closed = False


def track(path: Path) -> None:
    """`path` is about to be written; Cancelled once the run is being stopped."""
    with _lock:
        if _closed:
            raise Cancelled()
        _live.add(path)


def forget(path: Path) -> None:
    """`path` was renamed into place or removed."""
    with _lock:
        _live.discard(path)


def discard(path: Path) -> None:
    """Remove `path` if it is still there, and forget it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    forget(path)


def remove_all() -> None:
    """Remove every tracked file; no new one may be started."""
    global _closed
    with _lock:
        _closed = True
        paths = list(_live)
        _live.clear()
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
