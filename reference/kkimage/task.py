"""KubeKey task files: parse, validate and normalize before any I/O.

A task file is a YAML list of `{name: ..., image: {pull|push|copy: {...}}}` (a single mapping,
with or without the `image:` key, is accepted too). String arguments may be Go templates over
the user variables; `push.dest` and `copy.to.path` are rendered later, once per image.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .arguments import (
    Warn,
    destination,
    expect_bool,
    expect_str,
    mapping,
    parse_auths,
    platform,
    policy,
    references,
    regex,
    skip_tls_verify,
    store_dir,
    warn_unknown,
)
from .auth import AuthEntry
from .errors import KkImageError, TaskError
from .g2 import G2Spec, is_g2, parse_g2
from .platform import PlatformFilter
from .reference import ImageReference
from .template import DestinationTemplate

_PULL_KEYS = {"images_dir", "manifests", "platform", "policy", "auths", "skip_tls_verify"}
_PUSH_KEYS = {"images_dir", "auths", "skip_tls_verify", "src_pattern", "dest"}
_COPY_KEYS = {"from", "to", "platform", "policy"}


class PullSpec(NamedTuple):
    images_dir: Path
    manifests: list[ImageReference]
    platform: PlatformFilter | None
    policy: str
    auths: list[AuthEntry]
    skip_tls_verify: bool


class PushSpec(NamedTuple):
    images_dir: Path
    dest: DestinationTemplate
    src_pattern: re.Pattern[str] | None
    auths: list[AuthEntry]
    skip_tls_verify: bool


class CopySpec(NamedTuple):
    from_path: Path
    manifests: list[ImageReference] | None  # None: every image in the source store
    to_path: DestinationTemplate
    pattern: re.Pattern[str] | None
    platform: PlatformFilter | None
    policy: str


class MirrorSpec(NamedTuple):
    """Registry -> registry (`kkimage mirror`; G2's oci:// -> oci://)."""

    manifests: list[ImageReference]
    dest: DestinationTemplate
    platform: PlatformFilter | None
    policy: str
    auths: list[AuthEntry]
    skip_tls_verify: bool


ARCHIVE_FORMATS = ("oci-layout", "oci-archive", "docker-archive")


class ExportSpec(NamedTuple):
    """Store -> an OCI layout, OCI archive or Docker archive (`kkimage export`)."""

    images_dir: Path
    manifests: list[ImageReference] | None  # None: every image of the store
    format: str
    output: Path
    platform: PlatformFilter | None
    policy: str


class ImportSpec(NamedTuple):
    """An OCI layout, OCI archive or Docker archive -> store (`kkimage import`)."""

    images_dir: Path
    path: Path
    layout: str = "L1"  # L2: what KubeKey >= v4.0.4 reads


class Task(NamedTuple):
    name: str
    pull: PullSpec | None = None
    push: PushSpec | None = None
    copy: CopySpec | None = None
    mirror: MirrorSpec | None = None
    export: ExportSpec | None = None
    import_: ImportSpec | None = None
    g2: G2Spec | None = None
    keep_going: bool = False  # its failures do not stop the run (kkimage's own task key)


# ---- operations ------------------------------------------------------------------------------


def parse_pull(args: dict, where: str, warn: Warn) -> PullSpec:
    warn_unknown(args, _PULL_KEYS, where, warn)
    return PullSpec(
        images_dir=store_dir(args.get("images_dir"), f"{where}.images_dir"),
        manifests=references(args.get("manifests"), f"{where}.manifests"),
        platform=platform(args.get("platform"), f"{where}.platform"),
        policy=policy(args.get("policy"), f"{where}.policy"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=skip_tls_verify(args, where),
    )


def parse_push(args: dict, where: str, warn: Warn) -> PushSpec:
    warn_unknown(args, _PUSH_KEYS, where, warn)
    return PushSpec(
        images_dir=store_dir(args.get("images_dir"), f"{where}.images_dir"),
        dest=destination(args.get("dest"), f"{where}.dest"),
        src_pattern=regex(args.get("src_pattern"), f"{where}.src_pattern"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=skip_tls_verify(args, where),
    )


def parse_copy(args: dict, where: str, warn: Warn) -> CopySpec:
    warn_unknown(args, _COPY_KEYS, where, warn)
    source = mapping(args.get("from"), f"{where}.from")
    target = mapping(args.get("to"), f"{where}.to")
    warn_unknown(source, {"path", "manifests"}, f"{where}.from", warn)
    warn_unknown(target, {"path", "pattern", "src_pattern"}, f"{where}.to", warn)
    manifests = None
    if source.get("manifests") is not None:
        manifests = references(source["manifests"], f"{where}.from.manifests")
    # KubeKey documents to.pattern but reads to.src_pattern: accept both, pattern first.
    pattern_key = "pattern" if target.get("pattern") is not None else "src_pattern"
    return CopySpec(
        from_path=store_dir(source.get("path"), f"{where}.from.path"),
        manifests=manifests,
        to_path=destination(target.get("path"), f"{where}.to.path"),
        pattern=regex(target.get(pattern_key), f"{where}.to.{pattern_key}"),
        platform=platform(args.get("platform"), f"{where}.platform"),
        policy=policy(args.get("policy"), f"{where}.policy"),
    )


def parse_mirror(args: dict, where: str, warn: Warn) -> MirrorSpec:
    """Registry -> registry: what `kkimage mirror` takes (no G1 task has it)."""
    return MirrorSpec(
        manifests=references(args.get("manifests"), f"{where}: source"),
        dest=destination(args.get("dest"), f"{where}: destination"),
        platform=platform(args.get("platform"), f"{where}.platform"),
        policy=policy(args.get("policy"), f"{where}.policy"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=skip_tls_verify(args, where),
    )


def parse_export(args: dict, where: str) -> ExportSpec:
    text = expect_str(args.get("format"), f"{where}.format")
    if text not in ARCHIVE_FORMATS:
        raise TaskError(
            f"{where}.format: expected one of {', '.join(ARCHIVE_FORMATS)}, got {text!r}"
        )
    manifests = args.get("manifests")
    return ExportSpec(
        images_dir=store_dir(args.get("images_dir"), f"{where}.images_dir"),
        manifests=references(manifests, f"{where}.manifests") if manifests else None,
        format=text,
        output=store_dir(args.get("output"), f"{where}.output"),
        platform=platform(args.get("platform"), f"{where}.platform"),
        policy=policy(args.get("policy"), f"{where}.policy"),
    )


def parse_import(args: dict, where: str) -> ImportSpec:
    return ImportSpec(
        images_dir=store_dir(args.get("images_dir"), f"{where}.images_dir"),
        path=store_dir(args.get("path"), f"{where}.path"),
        layout=args.get("layout") or "L1",
    )


_OPERATIONS = {"pull": parse_pull, "push": parse_push, "copy": parse_copy}


# Rendered once per image, not with the task's variables.
_PER_IMAGE_TEMPLATES = frozenset({"push.dest", "copy.to.path", "g2.src", "g2.dest"})


def _render_strings(value: Any, variables: dict[str, Any], where: str) -> Any:
    """Render templates in argument strings with the user variables, except the per-image
    destinations."""
    if where in _PER_IMAGE_TEMPLATES:
        return value
    if isinstance(value, str) and "{{" in value and "}}" in value:
        try:
            return DestinationTemplate(value).render(variables)
        except KkImageError as exc:
            if where.endswith(".password"):  # the message would quote the password
                raise TaskError(f"{where}: not a valid template (value not shown)") from None
            raise TaskError(f"{where}: {exc}") from None
    if isinstance(value, list):
        return [_render_strings(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _render_strings(v, variables, f"{where}.{k}") for k, v in value.items()}
    return value


def parse_task(item: object, index: int, variables: dict[str, Any], warn: Warn) -> Task:
    task = mapping(item, f"task {index + 1}")
    name = str(task.get("name") or f"task {index + 1}")
    where = f"task {name!r}"
    keep_going = bool(expect_bool(task.get("keep_going"), f"{where}: keep_going"))
    image = task.get("image", task if task.keys() & _OPERATIONS.keys() else None)
    if image is None:
        raise TaskError(f"{where}: has no 'image' module (expected image: {{pull|push|copy}})")
    image = mapping(image, f"{where}: image")
    if is_g2(image):
        if image.keys() & _OPERATIONS.keys():
            raise TaskError(
                f"{where}: image mixes the formats: pull/push/copy (KubeKey <= v4.0.3) or "
                "manifests/src/dest (KubeKey >= v4.0.4), not both"
            )
        args = _render_strings(image, variables, "g2")
        return Task(name=name, g2=parse_g2(args, f"{where}: image", warn), keep_going=keep_going)
    warn_unknown(image, set(_OPERATIONS), f"{where}: image", warn)
    specs: dict[str, Any] = {}
    for op, parse in _OPERATIONS.items():
        if image.get(op) is not None:
            args = _render_strings(mapping(image[op], f"{where}: {op}"), variables, op)
            specs[op] = parse(args, f"{where}: {op}", warn)
    if not specs:
        raise TaskError(f"{where}: image has none of pull, push, copy")
    return Task(name=name, keep_going=keep_going, **specs)


# libyaml's parser where PyYAML was built with it: the same safe types, ten times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_SafeLoader)
    except UnicodeDecodeError:
        raise TaskError(f"{what} {path} is not UTF-8 text") from None
    except FileNotFoundError:
        raise TaskError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise TaskError(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise TaskError(f"{what} {path} is not valid YAML{at}: {problem}") from None


def parse_tasks(document: Any, variables: dict[str, Any], warn: Warn) -> list[Task]:
    if document is None:
        raise TaskError("the task file is empty")
    items = document if isinstance(document, list) else [document]
    if not items:
        raise TaskError("the task file holds no tasks")
    return [parse_task(item, i, variables, warn) for i, item in enumerate(items)]


class Variables:
    """User variables: a YAML mapping file plus KEY=VALUE overrides (dotted keys nest)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def load_file(self, path: str | Path) -> None:
        content = load_yaml(path, "variables file")
        if content is None:
            return
        if not isinstance(content, dict):
            raise TaskError(f"variables file {path} must hold a mapping")
        self.values.update(content)

    def set(self, assignment: str) -> None:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise TaskError(f"--var {assignment!r}: expected KEY=VALUE")
        target = self.values
        *parents, leaf = key.strip().split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise TaskError(f"--var {key}: {parent} is not a mapping")
        target[leaf] = value
