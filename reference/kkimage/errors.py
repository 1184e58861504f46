"""Every error kkimage raises on purpose.

    KkImageError                  base; str(error) is the one line the CLI prints
    ├── TaskError                 the task file or a flag is wrong (before any I/O)
    ├── ReferenceError_           an image reference does not parse or would leave the store
    ├── TemplateError             a destination template does not parse or uses an undefined name
    ├── PlatformError             a platform spelling is invalid, or (strict) an image lacks one
    ├── StoreError                the local store is missing, unreadable or incomplete
    ├── ManifestError             a manifest is not JSON, or not a manifest kkimage can copy
    ├── DigestMismatch            content does not hash to the digest it was asked for
    └── RegistryError             a registry answered with an error or could not be reached
        ├── AuthError             401/403, or a token server refused
        └── TransportError        connection, TLS or timeout failure after retries
            ├── TlsError          the TLS handshake failed: not worth retrying
            └── BrokenTransfer    a body cut short or inconsistent: worth another try

Anything else escaping the CLI is a bug; the CLI still prints one line for it.
"""

from __future__ import annotations


class KkImageError(Exception):
    """Base class; the message is complete and fit for one line on stderr."""

    exit_code = 1

    def add_context(self, context: str) -> None:
        """Prefix the message with what was being done (e.g. the image), once."""
        message = str(self)
        if not message.startswith(context):
            self.args = (f"{context}: {message}",)


class TaskError(KkImageError):
    exit_code = 2


class ReferenceError_(KkImageError):
    exit_code = 2


class TemplateError(KkImageError):
    exit_code = 2


class PlatformError(KkImageError):
    pass


class StoreError(KkImageError):
    pass


class ManifestError(KkImageError):
    pass


class DigestMismatch(KkImageError):
    """Content that is not what its descriptor names: another digest, or another size."""

    def __init__(self, what: str, expected: str, actual: str, problem: str | None = None) -> None:
        super().__init__(f"{what}: {problem or f'content hashes to {actual}, expected {expected}'}")
        self.expected = expected
        self.actual = actual


class RegistryError(KkImageError):
    """An error answer from a registry, with the HTTP status and the registry's error code.
    `retryable`: worth another attempt (a 429 or 5xx, a lost connection); `retry_after`: the
    seconds the registry asked to wait."""

    retryable = False

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


class AuthError(RegistryError):
    pass


class TransportError(RegistryError):
    retryable = True


class TlsError(TransportError):
    retryable = False


class BrokenTransfer(TransportError):
    pass


class Cancelled(Exception):
    """Raised inside a transfer when the run stops because another part of it failed."""
