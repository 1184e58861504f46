"""The argument formats a case is rendered in: G1 (`pull`/`push`/`copy`, KubeKey <= v4.0.3)
and G2 (`manifests`/`src`/`dest`, KubeKey >= v4.0.4).

Cases are written in G1; `render(tasks, "g2")` says the same thing in G2, the way KubeKey's
own builtin roles write it (docs/spec.md section 11). What G1 says that G2 cannot (a pull's
`skip_tls_verify`, a templated copy destination) raises NotInFormat: such a
case declares `formats: [g1]` and says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .stores import images

FORMATS = ("g1", "g2")
LAYOUT = {"g1": "L1", "g2": "L2"}  # what each format writes to a local store
OPERATIONS = ("pull", "push", "copy")  # G1's order within one task

# The builtin download role's source (KubeKey v4.0.6, roles/download/tasks/images.yaml).
PULL_SRC = (
    "oci://{{ .module.image.reference.registry }}/{{ .module.image.reference.repository }}"
    ":{{ .module.image.reference.reference }}"
)
G1_VARIABLES = ".module.image.src.reference."
G2_VARIABLES = ".module.image.reference."
IMAGE_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
AUTH_KEYS = {"repo": "registry", "insecure": "skip_tls_verify"}  # G1 spelling -> G2


class NotInFormat(ValueError):
    """The case says something the format cannot (a harness error: the case must declare
    the formats it is written for)."""


def render(tasks: list[dict[str, Any]], format: str) -> list[dict[str, Any]]:
    """`tasks` (G1) as `format` writes them: G2 has one operation per task."""
    if format == "g1":
        return tasks
    rendered = []
    pulled: dict[str, list[str]] = {}  # store -> images earlier pulls of `tasks` put there
    for task in tasks:
        image = task.get("image")
        if not isinstance(image, dict) or not image.keys() & set(OPERATIONS):
            rendered.append(task)  # not an image task, or already G2: as it is
            continue
        others = set(image) - set(OPERATIONS)
        if others:
            raise NotInFormat(f"G1 keys beside the operations: {sorted(others)}")
        for operation in OPERATIONS:
            if operation in image:
                args = _G2[operation](dict(image[operation]), pulled)
                rendered.append({**task, "image": args})
    return rendered


def _pull(args: dict[str, Any], pulled: dict[str, list[str]]) -> dict[str, Any]:
    if "skip_tls_verify" in args:
        raise NotInFormat("pull.skip_tls_verify (G2 says it per auths entry only)")
    out: dict[str, Any] = {"src": PULL_SRC}
    if "images_dir" in args:
        out["dest"] = _local(args.pop("images_dir"))
        if isinstance(args.get("manifests"), list):
            pulled.setdefault(out["dest"], []).extend(map(str, args["manifests"]))
    return _with(out, args, _auths(args.pop("auths", None)))


def _push(args: dict[str, Any], pulled: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "images_dir" in args:
        out["src"] = _local(args.pop("images_dir"))
    if "dest" in args:
        dest = args.pop("dest")
        out["dest"] = "oci://" + dest.replace(G1_VARIABLES, G2_VARIABLES)
    if "src_pattern" in args:
        out["pattern"] = args.pop("src_pattern")
    auths = _auths(args.pop("auths", None))
    return _with(_listed(out, pulled), args, auths)


def _copy(args: dict[str, Any], pulled: dict[str, list[str]]) -> dict[str, Any]:
    origin = dict(args.pop("from", None) or {})
    to = dict(args.pop("to", None) or {})
    out: dict[str, Any] = {}
    if "path" in origin:
        out["src"] = _local(origin.pop("path"))
    if "manifests" in origin:
        out["manifests"] = origin.pop("manifests")
    if "path" in to:
        if "{{" in str(to["path"]):
            raise NotInFormat("a templated copy.to.path (a G2 local:// dest is a store)")
        out["dest"] = _local(to.pop("path"))
    pattern = to.pop("pattern", None) or to.pop("src_pattern", None)
    if pattern is not None:
        out["pattern"] = pattern
    if origin or to:
        raise NotInFormat(f"copy keys without a G2 counterpart: {sorted({*origin, *to})}")
    return _with(_listed(out, pulled), args, None)


_G2 = {"pull": _pull, "push": _push, "copy": _copy}


def _local(path: object) -> str:
    return f"local://{path}"


def _listed(out: dict[str, Any], pulled: dict[str, list[str]]) -> dict[str, Any]:
    """A push or copy of a whole store lists its images, as the builtin push role does (a
    `local://` source without `manifests` is a G2 case of its own, R-G2-4): those in the
    store now, and those earlier pulls of the same run put there."""
    src = out.get("src", "")
    if "manifests" not in out and src.startswith("local://") and "{{" not in src:
        stored = images(Path(src.removeprefix("local://")))
        found = {name for name, path in stored.items() if _is_image(path)}
        listed = sorted(found | set(pulled.get(src, [])))
        if listed:
            out["manifests"] = listed
    return out


def _is_image(path: Path) -> bool:
    """A root G1 push would discover (behaviour.md section 2): JSON with an image manifest
    or index media type."""
    try:
        media_type = json.loads(path.read_bytes()).get("mediaType", "")
    except (OSError, ValueError, AttributeError):
        return False
    return media_type in IMAGE_MEDIA_TYPES


def g2_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A G1 `auths` entry with G2's key names (`repo` -> `registry`, `insecure` ->
    `skip_tls_verify`), the other keys as they are."""
    return {AUTH_KEYS.get(k, k): v for k, v in entry.items()}


def _auths(auths: object) -> object:
    """G1 entries in G2's spelling; anything else as it is, for the implementation to judge."""
    if not isinstance(auths, list):
        return auths
    return [g2_entry(entry) if isinstance(entry, dict) else entry for entry in auths]


def _with(out: dict[str, Any], rest: dict[str, Any], auths: object) -> dict[str, Any]:
    """The operation's remaining arguments (manifests, platform, policy, ...) as they are."""
    if auths is not None:
        out["auths"] = auths
    return {**out, **rest}
