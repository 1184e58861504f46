"""Blob content in motion: every blob kkimage moves is read through a `VerifiedReader`.

Wherever a blob comes from (a registry, a store, an archive), it is read as a stream that
hashes what passes, never yields a byte past the descriptor's size, and raises at its end if
the content is not what the descriptor names. Whoever writes it (a store, an archive, a
registry upload) keeps it only once the stream has ended verified, so each byte is hashed
once, where it is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from .errors import DigestMismatch

CHUNK = 1 << 20


class RawStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...

    def close(self) -> None: ...


class VerifiedReader:
    """`raw`, read as the blob `digest` of `size` bytes (file-like; a context manager).

    A source with more bytes than `size` is refused when the extra byte arrives; one with
    fewer, or with other content, at its end. `progress` hears every chunk.
    """

    def __init__(
        self,
        raw: RawStream,
        digest: str,
        size: int,
        what: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.raw, self.digest, self.size, self.what = raw, digest, size, what
        self.progress = progress
        self.read_bytes = 0
        self.verified = False
        self._hash: hashlib._Hash | None = hashlib.sha256()

    def read(self, size: int = CHUNK) -> bytes:
        if self.verified:
            return b""
        remaining = self.size - self.read_bytes
        # One byte more than the blob may hold: a source that has it is sending too much.
        chunk = self.raw.read(min(size if size > 0 else CHUNK, remaining + 1) or 1)
        if len(chunk) > remaining:
            self._oversized()
        self._passed(chunk)
        return chunk

    def readinto(self, buffer: memoryview) -> int:
        """Like `read`, into `buffer` (no new bytes object: a pull's buffers are reused)."""
        if self.verified:
            return 0
        view = buffer[: self.size - self.read_bytes] or buffer[:1]
        got = self.raw.readinto(view) or 0
        if got and self.read_bytes == self.size:
            self._oversized()
        self._passed(view[:got])
        return got

    def _passed(self, chunk: bytes | memoryview) -> None:
        """`chunk` has passed (nothing: the source ended): hashed, counted, and checked at
        the end."""
        if not chunk:
            self._finish()
            return
        if self._hash is not None:
            self._hash.update(chunk)
        self.read_bytes += len(chunk)
        if self.progress is not None:
            self.progress(len(chunk))
        if self.read_bytes == self.size:
            self._finish_when_drained()

    def _finish_when_drained(self) -> None:
        """At `size` bytes: the source must end here, and the content must verify."""
        if self.raw.read(1):
            self._oversized()
        self._finish()

    def _oversized(self) -> None:
        problem = f"more than the {self.size} bytes its descriptor gives"
        raise DigestMismatch(self.what, f"{self.size} bytes", "more", problem)

    def _finish(self) -> None:
        if self.read_bytes != self.size:
            problem = f"ended after {self.read_bytes} of the {self.size} bytes its descriptor gives"
            raise DigestMismatch(self.what, f"{self.size} bytes", f"{self.read_bytes}", problem)
        if self._hash is not None:
            actual = "sha256:" + self._hash.hexdigest()
            if actual != self.digest:
                raise DigestMismatch(self.what, self.digest, actual)
        self.verified = True

    def leave_digest_to_target(self) -> None:
        """Check the size only: for a target that refuses content not matching its digest
        itself (a registry's upload), hashing here too would be the same work twice."""
        self._hash = None

    def __len__(self) -> int:  # the upload's Content-Length, for requests
        return self.size

    def read_all(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK):
            parts.append(chunk)
        if not self.verified:  # an empty blob: nothing was read, so nothing was checked
            self._finish()
        return b"".join(parts)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Opens a fresh verified stream of one blob (called again for each attempt of a transfer).
BlobOpener = Callable[[], AbstractContextManager[VerifiedReader]]
