"""KubeKey task files: parse, validate and normalize before any I/O.

A task file is a YAML list of `{name: ..., image: {pull|push|copy: {...}}}` (a single mapping,
with or without the `image:` key, is accepted too). String arguments may be Go templates over
the user variables; `push.dest` and `copy.to.path` are rendered later, once per image.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .auth import AuthEntry, split_host
from .errors import KkImageError, TaskError
from .platform import PlatformFilter
from .reference import ImageReference, normalize_registry, parse_reference
from .template import DestinationTemplate

Warn = Callable[[str], None]
POLICIES = ("strict", "warn")

_PULL_KEYS = {"images_dir", "manifests", "platform", "policy", "auths", "skip_tls_verify"}
_PUSH_KEYS = {"images_dir", "auths", "skip_tls_verify", "src_pattern", "dest"}
_COPY_KEYS = {"from", "to", "platform", "policy"}
_AUTH_KEYS = {
    "repo",
    "registry",
    "username",
    "password",
    "insecure",
    "skip_tls_verify",
    "plain_http",
    "ca_file",
    "cert_file",
    "key_file",
}


@dataclass(frozen=True)
class PullSpec:
    images_dir: Path
    manifests: list[ImageReference]
    platform: PlatformFilter | None
    policy: str
    auths: list[AuthEntry]
    skip_tls_verify: bool


@dataclass(frozen=True)
class PushSpec:
    images_dir: Path
    dest: DestinationTemplate
    src_pattern: re.Pattern[str] | None
    auths: list[AuthEntry]
    skip_tls_verify: bool


@dataclass(frozen=True)
class CopySpec:
    from_path: Path
    manifests: list[ImageReference] | None  # None: every image in the source store
    to_path: DestinationTemplate
    pattern: re.Pattern[str] | None
    platform: PlatformFilter | None
    policy: str


@dataclass(frozen=True)
class MirrorSpec:
    """Registry -> registry (`kkimage mirror`; G2's oci:// -> oci://)."""

    manifests: list[ImageReference]
    dest: DestinationTemplate
    platform: PlatformFilter | None
    policy: str
    auths: list[AuthEntry]
    skip_tls_verify: bool


ARCHIVE_FORMATS = ("oci-layout", "oci-archive", "docker-archive")


@dataclass(frozen=True)
class ExportSpec:
    """Store -> an OCI layout, OCI archive or Docker archive (`kkimage export`)."""

    images_dir: Path
    manifests: list[ImageReference] | None  # None: every image of the store
    format: str
    output: Path
    platform: PlatformFilter | None
    policy: str


@dataclass(frozen=True)
class ImportSpec:
    """An OCI layout, OCI archive or Docker archive -> store (`kkimage import`)."""

    images_dir: Path
    path: Path
    layout: str = "L1"  # L2: what KubeKey >= v4.0.4 reads


@dataclass(frozen=True)
class Task:
    name: str
    pull: PullSpec | None = None
    push: PushSpec | None = None
    copy: CopySpec | None = None
    mirror: MirrorSpec | None = None
    export: ExportSpec | None = None
    import_: ImportSpec | None = None


# ---- value checks (shared wording) -----------------------------------------------------------


def expect_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TaskError(f"{where}: expected a string, got {type(value).__name__}")
    return str(value)


def expect_bool(value: object, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TaskError(f"{where}: expected true or false, got {value!r}")


def expect_str_list(value: object, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise TaskError(f"{where}: expected a list of strings, got {type(value).__name__}")
    return [expect_str(item, f"{where}[{i}]") or "" for i, item in enumerate(value)]


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TaskError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _warn_unknown(args: dict, known: set[str], where: str, warn: Warn) -> None:
    for key in sorted(set(args) - known, key=str):
        warn(f"{where}: unknown key {key!r} ignored")


def _regex(value: object, where: str) -> re.Pattern[str] | None:
    text = expect_str(value, where)
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise TaskError(f"{where}: invalid regular expression {text!r}: {exc}") from None


def _store_dir(value: object, where: str) -> Path:
    text = expect_str(value, where)
    if not text or not text.strip():
        raise TaskError(f"{where}: a local directory is required")
    return Path(text.strip()).expanduser()


def _references(value: object, where: str) -> list[ImageReference]:
    texts = expect_str_list(value, where)
    if not texts:
        raise TaskError(f"{where}: at least one image reference is required")
    refs = []
    for i, text in enumerate(texts):
        try:
            refs.append(parse_reference(text))
        except KkImageError as exc:
            raise TaskError(f"{where}[{i}]: {exc}") from None
    return refs


def _platform(value: object, where: str) -> PlatformFilter | None:
    try:
        return PlatformFilter.from_argument(value)
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None


def _policy(value: object, where: str) -> str:
    text = expect_str(value, where) or "strict"
    if text not in POLICIES:
        raise TaskError(f"{where}: expected strict or warn, got {text!r}")
    return text


def _destination(value: object, where: str) -> DestinationTemplate:
    text = expect_str(value, where)
    if not text or not text.strip():
        raise TaskError(f"{where}: a destination is required")
    try:
        return DestinationTemplate(text.strip())
    except KkImageError as exc:
        raise TaskError(f"{where}: {exc}") from None


def parse_auths(value: object, where: str, warn: Warn) -> list[AuthEntry]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TaskError(f"{where}: expected a list of entries with repo, username, password")
    return [parse_auth_entry(item, f"{where}[{i}]", warn) for i, item in enumerate(value)]


def _credential(value: object, where: str) -> str | None:
    """YAML has already turned an unquoted 012345 into 5349: refuse rather than guess."""
    if value is None or isinstance(value, str):
        return value
    raise TaskError(f'{where}: must be a string; quote it in YAML (e.g. password: "012345")')


def _existing_file(value: object, where: str) -> str | None:
    text = expect_str(value, where)
    if text is None:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise TaskError(f"{where}: no such file {text!r}")
    return str(path)


def parse_auth_entry(value: object, where: str, warn: Warn) -> AuthEntry:
    args = _mapping(value, where)
    _warn_unknown(args, _AUTH_KEYS, where, warn)
    repo = expect_str(args.get("repo", args.get("registry")), f"{where}.repo")
    if not repo or not repo.strip():
        raise TaskError(f"{where}: 'repo' must be a registry address like registry.example:5000")
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", repo.strip())
    registry, _, path = text.partition("/")
    host, port = split_host(registry)
    if not host or (port is not None and not port.isdigit()):
        raise TaskError(f"{where}: invalid registry address {repo!r}")
    insecure = args.get("insecure", args.get("skip_tls_verify"))
    return AuthEntry(
        host=normalize_registry(host),
        port=port,
        path=path.strip("/"),
        username=_credential(args.get("username"), f"{where}.username"),
        password=_credential(args.get("password"), f"{where}.password"),
        insecure=expect_bool(insecure, f"{where}.insecure"),
        plain_http=bool(expect_bool(args.get("plain_http"), f"{where}.plain_http")),
        ca_file=_existing_file(args.get("ca_file"), f"{where}.ca_file"),
        cert_file=_existing_file(args.get("cert_file"), f"{where}.cert_file"),
        key_file=_existing_file(args.get("key_file"), f"{where}.key_file"),
    )


# ---- operations ------------------------------------------------------------------------------


def parse_pull(args: dict, where: str, warn: Warn) -> PullSpec:
    _warn_unknown(args, _PULL_KEYS, where, warn)
    return PullSpec(
        images_dir=_store_dir(args.get("images_dir"), f"{where}.images_dir"),
        manifests=_references(args.get("manifests"), f"{where}.manifests"),
        platform=_platform(args.get("platform"), f"{where}.platform"),
        policy=_policy(args.get("policy"), f"{where}.policy"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=bool(expect_bool(args.get("skip_tls_verify"), f"{where}.skip_tls_verify")),
    )


def parse_push(args: dict, where: str, warn: Warn) -> PushSpec:
    _warn_unknown(args, _PUSH_KEYS, where, warn)
    return PushSpec(
        images_dir=_store_dir(args.get("images_dir"), f"{where}.images_dir"),
        dest=_destination(args.get("dest"), f"{where}.dest"),
        src_pattern=_regex(args.get("src_pattern"), f"{where}.src_pattern"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=bool(expect_bool(args.get("skip_tls_verify"), f"{where}.skip_tls_verify")),
    )


def parse_copy(args: dict, where: str, warn: Warn) -> CopySpec:
    _warn_unknown(args, _COPY_KEYS, where, warn)
    source = _mapping(args.get("from"), f"{where}.from")
    target = _mapping(args.get("to"), f"{where}.to")
    _warn_unknown(source, {"path", "manifests"}, f"{where}.from", warn)
    _warn_unknown(target, {"path", "pattern", "src_pattern"}, f"{where}.to", warn)
    manifests = None
    if source.get("manifests") is not None:
        manifests = _references(source["manifests"], f"{where}.from.manifests")
    # KubeKey documents to.pattern but reads to.src_pattern: accept both, pattern first.
    pattern_key = "pattern" if target.get("pattern") is not None else "src_pattern"
    return CopySpec(
        from_path=_store_dir(source.get("path"), f"{where}.from.path"),
        manifests=manifests,
        to_path=_destination(target.get("path"), f"{where}.to.path"),
        pattern=_regex(target.get(pattern_key), f"{where}.to.{pattern_key}"),
        platform=_platform(args.get("platform"), f"{where}.platform"),
        policy=_policy(args.get("policy"), f"{where}.policy"),
    )


def parse_mirror(args: dict, where: str, warn: Warn) -> MirrorSpec:
    """Registry -> registry: what `kkimage mirror` takes (no G1 task has it)."""
    return MirrorSpec(
        manifests=_references(args.get("manifests"), f"{where}: source"),
        dest=_destination(args.get("dest"), f"{where}: destination"),
        platform=_platform(args.get("platform"), f"{where}.platform"),
        policy=_policy(args.get("policy"), f"{where}.policy"),
        auths=parse_auths(args.get("auths"), f"{where}.auths", warn),
        skip_tls_verify=bool(expect_bool(args.get("skip_tls_verify"), f"{where}.skip_tls_verify")),
    )


def parse_export(args: dict, where: str) -> ExportSpec:
    text = expect_str(args.get("format"), f"{where}.format")
    if text not in ARCHIVE_FORMATS:
        raise TaskError(
            f"{where}.format: expected one of {', '.join(ARCHIVE_FORMATS)}, got {text!r}"
        )
    manifests = args.get("manifests")
    return ExportSpec(
        images_dir=_store_dir(args.get("images_dir"), f"{where}.images_dir"),
        manifests=_references(manifests, f"{where}.manifests") if manifests else None,
        format=text,
        output=_store_dir(args.get("output"), f"{where}.output"),
        platform=_platform(args.get("platform"), f"{where}.platform"),
        policy=_policy(args.get("policy"), f"{where}.policy"),
    )


def parse_import(args: dict, where: str) -> ImportSpec:
    return ImportSpec(
        images_dir=_store_dir(args.get("images_dir"), f"{where}.images_dir"),
        path=_store_dir(args.get("path"), f"{where}.path"),
        layout=args.get("layout") or "L1",
    )


_OPERATIONS = {"pull": parse_pull, "push": parse_push, "copy": parse_copy}


_PER_IMAGE_TEMPLATES = frozenset({"push.dest", "copy.to.path"})  # rendered once per image


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
    task = _mapping(item, f"task {index + 1}")
    name = str(task.get("name") or f"task {index + 1}")
    where = f"task {name!r}"
    image = task.get("image", task if task.keys() & _OPERATIONS.keys() else None)
    if image is None:
        raise TaskError(f"{where}: has no 'image' module (expected image: {{pull|push|copy}})")
    image = _mapping(image, f"{where}: image")
    _warn_unknown(image, set(_OPERATIONS), f"{where}: image", warn)
    specs: dict[str, Any] = {}
    for op, parse in _OPERATIONS.items():
        if image.get(op) is not None:
            args = _render_strings(_mapping(image[op], f"{where}: {op}"), variables, op)
            specs[op] = parse(args, f"{where}: {op}", warn)
    if not specs:
        raise TaskError(f"{where}: image has none of pull, push, copy")
    return Task(name=name, **specs)


def load_yaml(path: str | Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
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


@dataclass
class Variables:
    """User variables: a YAML mapping file plus KEY=VALUE overrides (dotted keys nest)."""

    values: dict[str, Any] = field(default_factory=dict)

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
