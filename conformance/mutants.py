"""Mutants: the reference with one thing broken, in the manner of real mistakes (several are
KubeKey's own, see docs/spec.md). The suite must catch every one: tests/conformance checks it.

A mutant distorts the task before the reference runs (`prepare`) or the effects after
(`after`). Each names the cases that should catch it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kkimage_fixtures.stores import corrupt_blob

from .formats import FORMATS
from .implementations import Outcome, Reference
from .stores import LAYOUT_FILE, tag_files


def _ops(tasks: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = []
    for task in tasks:
        image = task.get("image", task)
        if isinstance(image, dict) and isinstance(image.get(name), dict):
            found.append(image[name])
    return found


def _pull_stores(tasks: list[dict[str, Any]]) -> list[Path]:
    return [Path(op["images_dir"]) for op in _ops(tasks, "pull") if "images_dir" in op]


def _tag_files(store: Path) -> list[Path]:
    return [p for p in tag_files(store) if not p.name.startswith(".")]


def _g2_ops(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The G2 tasks' arguments (`manifests`/`src`/`dest`)."""
    return [
        t["image"]
        for t in tasks
        if isinstance(t.get("image"), dict) and {"src", "dest"} & set(t["image"])
    ]


def _g2_stores(tasks: list[dict[str, Any]]) -> list[Path]:
    """The local:// destinations of G2 tasks (written in L2)."""
    dests = [str(op.get("dest", "")) for op in _g2_ops(tasks)]
    return [Path(d.removeprefix("local://")) for d in dests if d.startswith("local://")]


def _filtering_ops(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operations that take a platform argument, in either format."""
    return _ops(tasks, "pull") + _ops(tasks, "copy") + _g2_ops(tasks)


@dataclass
class Mutant(Reference):
    """The reference with one mistake; CATCHES names the cases that must catch it. A mutant
    distorts G1 tasks and L1 stores unless it says otherwise."""

    formats: tuple[str, ...] = ("g1",)


@dataclass
class DropChild(Mutant):
    """Loses one child manifest of every index it pulls."""

    def after(self, tasks, outcome: Outcome) -> Outcome:
        for store in _pull_stores(tasks):
            for tag in _tag_files(store):
                content = json.loads(tag.read_bytes())
                for child in content.get("manifests", [])[:1]:
                    (tag.parent / child["digest"]).unlink(missing_ok=True)
        return outcome


@dataclass
class Reserialize(Mutant):
    """Rewrites stored roots with indentation (same JSON, other bytes, other digest)."""

    def after(self, tasks, outcome: Outcome) -> Outcome:
        for store in _pull_stores(tasks):
            for tag in _tag_files(store):
                tag.write_text(json.dumps(json.loads(tag.read_bytes()), indent=3))
        return outcome


@dataclass
class IgnorePlatform(Mutant):
    """Ignores the platform argument (keeps every platform)."""

    def prepare(self, tasks):
        for op in _filtering_ops(tasks):
            op.pop("platform", None)
        return tasks


@dataclass
class SubstringPlatform(Mutant):
    """Matches architectures by substring, as KubeKey v4.0.3: arm also takes arm64."""

    def prepare(self, tasks):
        for op in _filtering_ops(tasks):
            if isinstance(op.get("platform"), list):
                extra = [p.replace("arm", "arm64") for p in op["platform"] if p.endswith("arm")]
                op["platform"] = op["platform"] + extra
        return tasks


@dataclass
class IgnoreVariant(Mutant):
    """Drops variants from requested platforms, as KubeKey G2: arm/v6 takes v7 too."""

    formats: tuple[str, ...] = FORMATS

    def prepare(self, tasks):
        for op in _filtering_ops(tasks):
            if isinstance(op.get("platform"), list):
                op["platform"] = [re.sub(r"/v\d+$", "", p) for p in op["platform"]]
        return tasks


@dataclass
class CreatedAnnotation(Mutant):
    """Stamps filtered indexes with a creation time, as KubeKey v4.0.3."""

    def after(self, tasks, outcome):
        for store in _pull_stores(tasks):
            for tag in _tag_files(store):
                content = json.loads(tag.read_bytes())
                if "manifests" in content:
                    content.setdefault("annotations", {})["org.opencontainers.image.created"] = (
                        f"{time.time():.6f}"
                    )
                    tag.write_text(json.dumps(content, separators=(",", ":")))
        return outcome


@dataclass
class HubDirectory(Mutant):
    """Writes Docker Hub content under registry-1.docker.io/, as KubeKey (oras-go)."""

    def after(self, tasks, outcome):
        targets = [
            Path(op["to"]["path"]) for op in _ops(tasks, "copy") if "{{" not in op["to"]["path"]
        ]
        for store in targets:
            if (store / "docker.io").is_dir():
                shutil.move(store / "docker.io", store / "registry-1.docker.io")
        return outcome


@dataclass
class CorruptBlob(Mutant):
    """Flips a byte of one stored blob: a store that does not verify."""

    def after(self, tasks, outcome):
        for store in _pull_stores(tasks):
            blobs = sorted((store / "blobs").glob("sha256:*")) if (store / "blobs").is_dir() else []
            if blobs:
                corrupt_blob(store, blobs[-1].name)
        return outcome


@dataclass
class LeavePartial(Mutant):
    """Leaves a temporary file behind in the store."""

    def after(self, tasks, outcome):
        for store in _pull_stores(tasks):
            if (store / "blobs").is_dir():
                (store / "blobs" / "sha256:partial.tmp").write_bytes(b"half a layer")
        return outcome


@dataclass
class IgnoreSrcPattern(Mutant):
    """Pushes every image, whatever src_pattern says."""

    def prepare(self, tasks):
        for op in _ops(tasks, "push"):
            op.pop("src_pattern", None)
        return tasks


@dataclass
class WrongTag(Mutant):
    """Pushes to `latest` instead of the rendered tag."""

    def prepare(self, tasks):
        for op in _ops(tasks, "push"):
            if isinstance(op.get("dest"), str):
                op["dest"] = re.sub(r":[^/:]*$", ":latest", op["dest"])
        return tasks


@dataclass
class NoValue(Mutant):
    """Renders undefined template variables as a string (KubeKey renders <no value>)."""

    def prepare(self, tasks):
        for op in _ops(tasks, "push"):
            if isinstance(op.get("dest"), str):
                op["dest"] = op["dest"].replace(
                    ".module.image.src.reference.repo }}", '"novalue" }}'
                )
        return tasks


@dataclass
class FirstAuthFallback(Mutant):
    """Uses the first auths entry for a registry no entry matches (KubeKey v4.0.3)."""

    def prepare(self, tasks):
        for op in _ops(tasks, "pull"):
            auths = op.get("auths") or []
            if not auths or not isinstance(auths[0], dict):
                continue
            hosts = {str(entry.get("repo", "")).split("/")[0] for entry in auths}
            for reference in op.get("manifests") or []:
                host = str(reference).split("/")[0]
                if host not in hosts:
                    credentials = {
                        k: v for k, v in auths[0].items() if k in ("username", "password")
                    }
                    auths.append({"repo": host, **credentials})
                    hosts.add(host)
        return tasks


@dataclass
class AlwaysInsecure(Mutant):
    """Never verifies certificates."""

    def prepare(self, tasks):
        for op in _ops(tasks, "pull") + _ops(tasks, "push"):
            for entry in op.get("auths") or []:
                if isinstance(entry, dict) and not entry.get("plain_http"):
                    entry.pop("ca_file", None)
                    entry["insecure"] = True
            op["skip_tls_verify"] = True
        return tasks


@dataclass
class ShortArchiveNames(Mutant):
    """Names exported images by their tag alone (`ref.name: v1`, no containerd name), as a
    tool that follows the OCI spec's example and forgets the readers would."""

    def after_command(self, args, outcome):
        if args[:1] != ["export"] or not outcome.ok:
            return outcome
        output = Path(args[args.index("--output") + 1])
        if output.is_dir():
            index = output / "index.json"
            index.write_bytes(_shorten(index.read_bytes()))
        elif output.is_file():
            _rewrite_member(output, "index.json", _shorten)
        return outcome


def _shorten(data: bytes) -> bytes:
    index = json.loads(data)
    for entry in index.get("manifests", []):
        name = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        entry["annotations"] = {"org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    return json.dumps(index).encode()


def _rewrite_member(archive: Path, name: str, change) -> None:
    import io
    import tarfile

    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    with tarfile.open(archive, "w") as tar:
        for member, data in members:
            data = change(data) if member.name == name else data
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


@dataclass
class G2Mutant(Mutant):
    """A mistake of a G2 implementation."""

    formats: tuple[str, ...] = ("g2",)


def _layouts(tasks) -> list[Path]:
    return [f for store in _g2_stores(tasks) for f in store.rglob(f"manifests/{LAYOUT_FILE}")]


@dataclass
class WritesL1(G2Mutant):
    """Writes G2 stores in layout L1 (tag files, no layout file), which KubeKey >= v4.0.5
    cannot read back."""

    def after(self, tasks, outcome):
        for layout in _layouts(tasks):
            for tag, digest in json.loads(layout.read_bytes()).items():
                shutil.copyfile(layout.parent / digest, layout.parent / tag)
            layout.unlink()
        return outcome


@dataclass
class LayoutNewline(G2Mutant):
    """Writes the layout file as most JSON writers do: unsorted, a trailing newline."""

    def after(self, tasks, outcome):
        for layout in _layouts(tasks):
            tags = json.loads(layout.read_bytes())
            layout.write_text(json.dumps(dict(reversed(tags.items())), indent=2) + "\n")
        return outcome


@dataclass
class LayoutRewritten(G2Mutant):
    """Writes the layout file from this run's tags only, as an unlocked read-modify-write
    does when another run (or an earlier one) wrote it: tags of others are lost."""

    def after(self, tasks, outcome):
        mine = {
            str(ref).rsplit(":", 1)[-1]
            for op in _g2_ops(tasks)
            for ref in (op.get("manifests") or [])
            if isinstance(op.get("manifests"), list)
        }
        for layout in _layouts(tasks):
            tags = json.loads(layout.read_bytes())
            kept = {tag: digest for tag, digest in tags.items() if tag in mine}
            layout.write_text(json.dumps(kept, indent=2, sort_keys=True))
        return outcome


@dataclass
class RequestOrder(G2Mutant):
    """Lists a filtered index's children in the request's order, as KubeKey G2 does: the
    stored index (a new digest) replaces the tag's in the layout file."""

    def after(self, tasks, outcome):
        wanted = [str(p).lower() for op in _g2_ops(tasks) for p in op.get("platform") or []]
        for layout in _layouts(tasks):
            tags = json.loads(layout.read_bytes())
            for tag, digest in tags.items():
                index = json.loads((layout.parent / digest).read_bytes())
                if len(index.get("manifests", [])) < 2:
                    continue
                index["manifests"].sort(key=lambda d: _rank(d.get("platform", {}), wanted))
                data = json.dumps(index, separators=(",", ":")).encode()
                name = "sha256:" + hashlib.sha256(data).hexdigest()
                (layout.parent / name).write_bytes(data)
                tags[tag] = name
            layout.write_text(json.dumps(tags, indent=2, sort_keys=True))
        return outcome


def _rank(platform: dict, wanted: list[str]) -> int:
    """Where `platform` comes in the request (os/arch[/variant]), unknown last."""
    spelled = "/".join(p for p in (platform.get("os"), platform.get("architecture")) if p)
    for n, asked in enumerate(wanted):
        if asked in (spelled, f"{spelled}/{platform.get('variant', '')}"):
            return n
    return len(wanted)


@dataclass
class WarnCopiesAnyway(G2Mutant):
    """`policy: warn` keeps what the filter excludes, as KubeKey G2 does for single-arch
    images."""

    def prepare(self, tasks):
        for op in _g2_ops(tasks):
            if op.get("policy") == "warn":
                op.pop("platform", None)
        return tasks


@dataclass
class IgnorePattern(G2Mutant):
    """Ignores `pattern`."""

    def prepare(self, tasks):
        for op in _g2_ops(tasks):
            op.pop("pattern", None)
        return tasks


@dataclass
class NoDiscovery(G2Mutant):
    """A local:// src without `manifests` transfers nothing, as KubeKey G2 (a skip)."""

    def prepare(self, tasks):
        for op in _g2_ops(tasks):
            if "manifests" not in op and str(op.get("src", "")).startswith("local://"):
                op["manifests"] = []
        return tasks


@dataclass
class ExitZero(Mutant):
    """Reports success whatever happened."""

    def after(self, tasks, outcome):
        outcome.returncode = 0
        return outcome


CATCHES = {
    "drop-child": (DropChild, ("LAYOUT-002", "LAYOUT-004")),
    "reserialize": (Reserialize, ("LAYOUT-001", "PLAT-013", "PLAT-016")),
    "ignore-platform": (IgnorePlatform, ("PLAT-001", "PLAT-008", "COPY-004")),
    "substring-platform": (SubstringPlatform, ("PLAT-003",)),
    "ignore-variant": (IgnoreVariant, ("PLAT-005",)),
    "created-annotation": (CreatedAnnotation, ("PLAT-011", "PLAT-012")),
    "hub-directory": (HubDirectory, ("COPY-001", "COPY-002")),
    "corrupt-blob": (CorruptBlob, ("LAYOUT-003",)),
    "leave-partial": (LeavePartial, ("LAYOUT-011",)),
    "ignore-src-pattern": (IgnoreSrcPattern, ("PUSH-002",)),
    "wrong-tag": (WrongTag, ("TMPL-001", "TMPL-011")),
    "no-value": (NoValue, ("TMPL-013",)),
    "first-auth-fallback": (FirstAuthFallback, ("AUTH-006",)),
    "always-insecure": (AlwaysInsecure, ("TLS-001", "TLS-003")),
    "exit-zero": (ExitZero, ("ERR-001", "AUTH-002")),
    "short-archive-names": (ShortArchiveNames, ("ARCH-001", "ARCH-002")),
    "g2-writes-l1": (WritesL1, ("FMT-008", "FMT-009", "PLAT-001")),
    "g2-layout-newline": (LayoutNewline, ("FMT-008",)),
    "g2-layout-rewritten": (LayoutRewritten, ("FMT-015",)),
    "g2-warn-copies-anyway": (WarnCopiesAnyway, ("FMT-001", "FMT-002")),
    "g2-request-order": (RequestOrder, ("PLAT-009",)),
    "g2-ignore-pattern": (IgnorePattern, ("FMT-003", "FMT-010")),
    "g2-no-discovery": (NoDiscovery, ("FMT-004",)),
}


def mutant(name: str) -> Mutant:
    if name not in CATCHES:
        raise ValueError(f"no mutant {name!r}; mutants: {', '.join(sorted(CATCHES))}")
    kind, _ = CATCHES[name]
    return kind(name=f"mutant:{name}")
