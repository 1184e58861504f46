"""Platform spellings, containerd-style normalization and the filter applied to images."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .errors import PlatformError

_ARCH_ALIASES = {
    "aarch64": ("arm64", ""),
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", ""),
}
_WORD = re.compile(r"[a-z0-9._-]+")
# Go's GOOS values: an OS/ARCH spelling whose first word is not one is a mistake (arm/v7).
KNOWN_OS = frozenset(
    {
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
    }
)
ALL = frozenset({"*", "all"})


class Platform(NamedTuple):
    """A normalized platform; an empty `os` or `variant` in a request means "any"."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def normalized(cls, os: str, architecture: str, variant: str = "") -> Platform:
        os, architecture, variant = os.lower(), architecture.lower(), variant.lower()
        if architecture in _ARCH_ALIASES:
            architecture, implied = _ARCH_ALIASES[architecture]
            variant = variant or implied
        if variant and variant[0].isdigit():
            variant = f"v{variant}"
        if architecture == "arm64" and variant in ("v8", "v8.0"):
            variant = ""
        if architecture == "arm" and not variant:
            variant = "v7"
        return cls(os, architecture, variant)

    @classmethod
    def parse(cls, spelling: object) -> Platform:
        """`amd64` (any OS), `linux/amd64`, `linux/arm64/v8`."""
        if not isinstance(spelling, str):
            raise PlatformError(
                f"invalid platform {spelling!r}: expected a string like linux/amd64"
            )
        parts = spelling.strip().lower().split("/")
        if not 1 <= len(parts) <= 3 or not all(_WORD.fullmatch(p) for p in parts):
            raise PlatformError(
                f"invalid platform {spelling!r}: expected ARCH, OS/ARCH or OS/ARCH/VARIANT"
            )
        if len(parts) == 1:
            return cls.normalized("", parts[0])
        if parts[0] not in KNOWN_OS:
            raise PlatformError(
                f"invalid platform {spelling!r}: {parts[0]!r} is not an operating system "
                f"(write OS/ARCH[/VARIANT], e.g. linux/{'/'.join(parts)})"
            )
        return cls.normalized(*parts)

    @classmethod
    def of(cls, mapping: dict | None) -> Platform | None:
        """The platform described by a descriptor's `platform` or an image config."""
        if not isinstance(mapping, dict):
            return None
        os, arch = mapping.get("os"), mapping.get("architecture")
        if not isinstance(os, str) or not isinstance(arch, str):
            return None
        variant = mapping.get("variant")
        return cls.normalized(os, arch, variant if isinstance(variant, str) else "")

    def matches(self, candidate: Platform) -> bool:
        """Whether this requested platform accepts `candidate` (a concrete platform)."""
        return (
            (not self.os or self.os == candidate.os)
            and self.architecture == candidate.architecture
            and (not self.variant or self.variant == candidate.variant)
        )

    @property
    def is_attestation(self) -> bool:
        return self.os == "unknown" and self.architecture == "unknown"

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def spelling(mapping: object) -> str | None:
    """A descriptor's or image config's platform as written there: os/architecture[/variant]."""
    if not isinstance(mapping, dict) or not all(
        isinstance(mapping.get(k), str) for k in ("os", "architecture")
    ):
        return None
    variant = mapping.get("variant")
    parts = [mapping["os"], mapping["architecture"], variant if isinstance(variant, str) else ""]
    return "/".join(part for part in parts if part)


def spellings(descriptors: list[dict]) -> list[str]:
    return [s for d in descriptors if (s := spelling(d.get("platform")))]


class Selection(NamedTuple):
    kept: list[dict]
    missing: list[Platform]


class PlatformFilter:
    """The `platform` argument: a list of requested platforms, or everything."""

    def __init__(self, requested: Sequence[Platform]) -> None:
        self.requested = tuple(requested)

    @classmethod
    def from_argument(cls, value: object) -> PlatformFilter | None:
        """None means no filtering: absent, [], ["*"] or ["all"]."""
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise PlatformError(f"invalid platform {value!r}: expected a list of strings")
        if not value or any(isinstance(v, str) and v.strip().lower() in ALL for v in value):
            return None
        return cls([Platform.parse(v) for v in value])

    def accepts(self, candidate: Platform | None) -> bool:
        return (
            candidate is not None
            and not candidate.is_attestation
            and any(r.matches(candidate) for r in self.requested)
        )

    def missing(self, available: Iterable[Platform | None]) -> list[Platform]:
        concrete = [p for p in available if p is not None and not p.is_attestation]
        return [r for r in self.requested if not any(r.matches(p) for p in concrete)]

    def select(self, descriptors: list[dict]) -> Selection:
        """Children of an index to keep, in their original order, and what was not found."""
        platforms = [Platform.of(d.get("platform")) for d in descriptors]
        kept = [d for d, p in zip(descriptors, platforms, strict=True) if self.accepts(p)]
        return Selection(kept, self.missing(platforms))

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.requested)
