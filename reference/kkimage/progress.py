"""Progress display: a live byte counter on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
import threading


class Progress:
    """Silent progress; also the interface the live display implements."""

    def expect(self, nbytes: int) -> None:
        """More bytes are planned to move."""

    def advance(self, nbytes: int) -> None:
        """Bytes moved (negative when a transfer starts over)."""

    def image_done(self, label: str) -> None:
        """One image finished."""

    def close(self) -> None:
        pass


class LiveProgress(Progress):
    """One rich progress bar on stderr: bytes moved against bytes planned, images done."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._rich = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
            # Lines printed to a terminal go above the bar; to a file or pipe, untouched.
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=False,
        )
        self._done = 0
        self._lock = threading.Lock()
        self._task = self._rich.add_task(self._describe(), total=0)
        self._rich.start()

    def _describe(self) -> str:
        return f"{self._done} image{'' if self._done == 1 else 's'} done"

    def expect(self, nbytes: int) -> None:
        with self._lock:
            total = self._rich.tasks[0].total or 0
            self._rich.update(self._task, total=total + nbytes)

    def advance(self, nbytes: int) -> None:
        self._rich.advance(self._task, nbytes)

    def image_done(self, label: str) -> None:
        with self._lock:
            self._done += 1
            self._rich.update(self._task, description=self._describe())

    def close(self) -> None:
        self._rich.stop()


def progress_for(enabled: bool | None = None) -> Progress:
    """A live display when stderr is a terminal (or when forced), silent otherwise."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return LiveProgress() if enabled else Progress()
