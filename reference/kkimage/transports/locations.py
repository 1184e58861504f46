"""Where images are, as URLs: what KubeKey >= v4.0.4's `src`/`dest` take (`oci://`,
`local://`) and the archive formats beside them.

    oci://HOST/REPO:TAG         a registry (the reference is the image's)
    local://DIR                 a KubeKey store
    oci-layout://DIR            an OCI image layout directory
    oci-archive://FILE.tar      an OCI archive
    docker-archive://FILE.tar   a Docker archive

Relative paths are relative to the working directory (`local://images`); `local:///data`
is absolute.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..errors import KkImageError
from ..reference import ImageReference, parse_reference

SCHEMES = ("oci", "local", "oci-layout", "oci-archive", "docker-archive")


class Location(NamedTuple):
    scheme: str
    path: Path | None = None  # local and the archive formats
    reference: ImageReference | None = None  # oci

    @property
    def is_registry(self) -> bool:
        return self.scheme == "oci"


def parse_location(text: object, where: str = "location") -> Location:
    """`text` as a Location; KkImageError naming `where` and the cause if it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise KkImageError(f"{where}: expected a URL like oci://HOST/REPO:TAG or local://DIR")
    scheme, separator, rest = text.strip().partition("://")
    if not separator:
        raise KkImageError(
            f"{where}: {text!r} has no scheme (expected one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
            + ")"
        )
    if scheme not in SCHEMES:
        raise KkImageError(
            f"{where}: unknown scheme {scheme}:// (expected one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
            + ")"
        )
    if not rest:
        raise KkImageError(f"{where}: {text!r} names nothing after {scheme}://")
    if scheme == "oci":
        try:
            return Location(scheme, reference=parse_reference(rest, require_tag_or_digest=False))
        except KkImageError as exc:
            raise KkImageError(f"{where}: {exc}") from None
    return Location(scheme, path=Path(rest).expanduser())
