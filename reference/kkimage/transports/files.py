"""The files of an image layout, in a directory or in a tar archive, read and written alike.

A directory is written file by file, each to a temporary name then renamed. An archive is
written as a temporary file next to its final name and renamed only by `commit`: an export
cut short leaves no archive that looks whole. An archive is read in place: its members are
indexed once and each is read from its offset, never unpacked.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
import threading
from pathlib import Path
from typing import BinaryIO

from .. import partial
from ..blobs import CHUNK, VerifiedReader
from ..errors import StoreError
from ..store import write_atomically

_TEMP = ".kkimage-partial-"


def _disk(where: Path):
    @contextlib.contextmanager
    def guard():
        try:
            yield
        except OSError as exc:
            raise StoreError(f"cannot write {where}: {exc.strerror or exc}") from None

    return guard()


class Files:
    """Named files: `exists`, `size`, `open` for reading; `put`, `put_bytes`, `commit` for
    writing. Names are relative, with `/` (e.g. `blobs/sha256/<hex>`)."""

    path: Path

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def size(self, name: str) -> int | None:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def put(self, name: str, reader: VerifiedReader) -> None:
        raise NotImplementedError

    def put_bytes(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Make what was written visible (an archive appears under its name)."""

    def abort(self) -> None:
        """Drop what was written and not committed."""


class DirectoryFiles(Files):
    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self, name: str) -> bool:
        return (self.path / name).is_file()

    def size(self, name: str) -> int | None:
        try:
            return (self.path / name).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self.path / name, "rb")
        except FileNotFoundError:
            raise StoreError(f"{self.path} has no {name}") from None

    def put(self, name: str, reader: VerifiedReader) -> None:
        write_atomically(self.path / name, reader)

    def put_bytes(self, name: str, data: bytes) -> None:
        write_atomically(self.path / name, lambda handle: handle.write(data))


class TarReader(Files):
    """An archive, read: members indexed once, each read from its offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, "r:")  # noqa: SIM115 - lives as long as the reader
        except (OSError, tarfile.TarError) as exc:
            raise StoreError(f"{path} is not a readable tar archive: {exc}") from None
        self._members = {m.name.removeprefix("./"): m for m in self._tar.getmembers() if m.isfile()}

    def exists(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int | None:
        member = self._members.get(name)
        return member.size if member else None

    def open(self, name: str) -> BinaryIO:
        member = self._members.get(name)
        if member is None:
            raise StoreError(f"{self.path} has no {name}")
        return _Member(open(self.path, "rb"), member.offset_data, member.size)


class _Member(io.RawIOBase):
    """One member's bytes, read from its own handle on the archive (threads read several)."""

    def __init__(self, handle: BinaryIO, offset: int, size: int) -> None:
        self.handle, self.remaining = handle, size
        handle.seek(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        got = self.handle.readinto(memoryview(buffer)[: self.remaining])  # type: ignore[attr-defined]
        self.remaining -= got
        return got

    def close(self) -> None:
        self.handle.close()
        super().close()


class TarWriter(Files):
    """An archive, written member by member into a temporary file beside `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.parent / f"{_TEMP}{os.getpid()}-{secrets.token_hex(4)}-{path.name}"
        self._tar: tarfile.TarFile | None = None
        self._written: dict[str, int] = {}
        self._lock = threading.Lock()

    def _archive(self) -> tarfile.TarFile:
        if self._tar is None:
            with _disk(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                partial.track(self.temp)
                self._tar = tarfile.open(self.temp, "w:", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        return self._tar

    def exists(self, name: str) -> bool:
        return name in self._written

    def size(self, name: str) -> int | None:
        return self._written.get(name)

    def open(self, name: str) -> BinaryIO:
        raise StoreError(f"{self.path} is being written, not read")

    def _add(self, name: str, size: int, source: BinaryIO) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0  # the same input, the same archive
        with self._lock, _disk(self.path):
            if name not in self._written:
                self._archive().addfile(info, source)
                self._written[name] = size

    def put(self, name: str, reader: VerifiedReader) -> None:
        self._add(name, reader.size, _Verifying(reader))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._add(name, len(data), io.BytesIO(data))

    def commit(self) -> None:
        with _disk(self.path):
            tar = self._archive()
            tar.close()
            with open(self.temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.temp, self.path)
        partial.forget(self.temp)

    def abort(self) -> None:
        if self._tar is not None:
            with contextlib.suppress(OSError):
                self._tar.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()
        partial.forget(self.temp)


class _Verifying(io.RawIOBase):
    """A VerifiedReader as tarfile reads it: exactly its size, verified at the end."""

    def __init__(self, reader: VerifiedReader) -> None:
        self.reader = reader

    def read(self, size: int = -1) -> bytes:
        chunk = self.reader.read(size if size > 0 else CHUNK)
        if not chunk and not self.reader.verified:
            self.reader.read_all()
        return chunk
