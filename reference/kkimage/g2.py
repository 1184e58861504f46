"""The `src`/`dest` format of KubeKey >= v4.0.4 ("G2"), parsed before any I/O.

    image:
      manifests: [...]        a list, or a string holding a JSON list (the builtin roles)
      src: oci://... | local://DIR      templates, rendered per image with
      dest: oci://... | local://DIR     .module.image.reference.* (and .src.reference.*)
      platform, policy, pattern, auths  as G1 (lists may be JSON-list strings)

oci -> local is a pull, local -> oci a push, local -> local a copy, oci -> oci a mirror:
all four the one copy algorithm; a local:// destination is written in layout L2.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from .arguments import (
    Warn,
    expect_str,
    parse_auths,
    platform,
    policy,
    references,
    regex,
    warn_unknown,
)
from .auth import AuthEntry
from .errors import KkImageError, TaskError
from .platform import PlatformFilter
from .reference import ImageReference
from .template import DestinationTemplate

KEYS = frozenset({"manifests", "src", "dest", "platform", "policy", "pattern", "auths"})
PER_IMAGE = frozenset({"src", "dest"})  # rendered once per image, not with the task
SCHEMES = ("oci://", "local://")


class G2Spec(NamedTuple):
    manifests: list[ImageReference] | None  # None: every image of a local:// src
    src: DestinationTemplate
    dest: DestinationTemplate
    platform: PlatformFilter | None
    policy: str
    pattern: re.Pattern[str] | None
    auths: list[AuthEntry]
    skip_tls_verify: bool = False  # G2 says it per auths entry only


def is_g2(image: dict) -> bool:
    return bool(image.keys() & {"src", "dest", "manifests"})


def json_list(value: object, where: str) -> object:
    """A string holding a JSON list (what `{{ ... | toJson }}` renders) as the list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise TaskError(f"{where}: not a JSON list: {exc}") from None
        if not isinstance(parsed, list):
            raise TaskError(f"{where}: expected a JSON list")
        return parsed
    return value


def _location(value: object, where: str) -> DestinationTemplate:
    text = (expect_str(value, where) or "").strip()
    if not text:
        raise TaskError(f"{where}: required (oci://REGISTRY/REPO:TAG or local://DIR)")
    if not text.startswith("{{") and not text.startswith(SCHEMES):
        raise TaskError(
            f"{where}: {text!r} is neither oci://REGISTRY/REPO:TAG nor local://DIR "
            "(a scheme is needed)"
        )
    try:
        return DestinationTemplate(text)
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None


def parse_g2(args: dict[str, Any], where: str, warn: Warn) -> G2Spec:
    warn_unknown(args, set(KEYS), where, warn)
    manifests = json_list(args.get("manifests"), f"{where}.manifests")
    pattern = regex(args.get("pattern"), f"{where}.pattern")
    src = _location(args.get("src"), f"{where}.src")
    if not manifests and src.text.strip().startswith("oci://"):
        raise TaskError(
            f"{where}.manifests: required with an oci:// src (a registry cannot be listed)"
        )
    refs = None
    if manifests is not None and manifests != []:
        refs = references(manifests, f"{where}.manifests")
        if pattern is not None:  # an unanchored search over the strings as written
            texts = manifests if isinstance(manifests, list) else [manifests]
            refs = [r for r, t in zip(refs, texts, strict=True) if pattern.search(str(t))]
    elif manifests == []:
        refs = []
    auths = json_list(args.get("auths"), f"{where}.auths")
    return G2Spec(
        manifests=refs,
        src=src,
        dest=_location(args.get("dest"), f"{where}.dest"),
        platform=platform(json_list(args.get("platform"), where), f"{where}.platform"),
        policy=policy(args.get("policy"), f"{where}.policy"),
        pattern=pattern,
        auths=parse_auths(auths, f"{where}.auths", warn),
    )
