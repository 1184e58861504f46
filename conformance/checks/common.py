"""Task builders and expectations about the seeded images, shared by the checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kkimage_fixtures import images

from ..context import CORPUS, CaseContext, Outcome
from ..stores import blob_names, files

SEED_DEST = (
    "{{ .module.image.src.reference.repository }}:{{ .module.image.src.reference.reference }}"
)

# What an error message must mention for a refusal to count as the one a case provokes
# (searched case-insensitively): any implementation's wording of the cause will do, an
# unrelated failure will not.
TLS = r"x509|certificate|tls|ssl"
CREDENTIALS = r"401|403|unauthori[sz]ed|authenticat|denied|forbidden|credential|password"
NOT_FOUND = r"404|not found|unknown|no such|not exist|not in store|missing"
DIGEST = r"digest|sha256|hash|checksum|mismatch|verif"


def pull(store: Path, manifests: list[str], auths: list[dict] | None, **extra: Any) -> dict:
    args: dict[str, Any] = {"images_dir": str(store), "manifests": manifests, **extra}
    if auths is not None:
        args["auths"] = auths
    return {"name": "pull images", "image": {"pull": args}}


def push(store: Path, dest: str, auths: list[dict] | None, **extra: Any) -> dict:
    args: dict[str, Any] = {"images_dir": str(store), "dest": dest, **extra}
    if auths is not None:
        args["auths"] = auths
    return {"name": "push images", "image": {"push": args}}


def copy(source: Path, target: str, manifests: list[str] | None = None, **extra: Any) -> dict:
    origin: dict[str, Any] = {"path": str(source)}
    if manifests is not None:
        origin["manifests"] = manifests
    to = {"path": target, **extra.pop("to", {})}
    return {"name": "copy images", "image": {"copy": {"from": origin, "to": to, **extra}}}


def pull_seeded(ctx: CaseContext, names: list[str], store: Path | None = None, **extra) -> Path:
    """Pull seed images into a store, and require success and every root in the store (byte
    for byte unless a platform filter changes it): what later steps build on is there."""
    store = store or ctx.path("store")
    refs = [ctx.registry.ref(n) for n in names]
    ctx.succeeded(ctx.run(pull(store, refs, [ctx.registry.auth()], **extra)), "the pull")
    for name, ref in zip(names, refs, strict=True):
        if "platform" in extra:
            ctx.read(ctx.manifest_file(store, ref), store, "the pull")
        else:
            expect_root(ctx, store, ref, corpus(name).root.data, "the pull")
    return store


def pull_image(
    ctx: CaseContext,
    auths: list[dict],
    name: str = "single-oci",
    *,
    into: str = "store",
    env: dict[str, str] | None = None,
    **extra: Any,
) -> tuple[Path, Outcome]:
    """Pull one seed image into a new store `into` with `auths`; the outcome, however it
    ended."""
    store = ctx.path(into)
    return store, ctx.run(pull(store, [ctx.registry.ref(name)], auths, **extra), env=env)


def expect_pulled(
    ctx: CaseContext, store: Path, outcome: Outcome, what: str, name: str = "single-oci"
) -> None:
    """The pull succeeded and stored the seed image's root, byte for byte."""
    ctx.succeeded(outcome, what)
    expect_root(ctx, store, ctx.registry.ref(name), corpus(name).root.data, what)


def expect_refused(
    ctx: CaseContext,
    store: Path,
    outcome: Outcome,
    because: str,
    what: str = "files written by a refused pull",
    secrets: tuple[str, ...] = (),
) -> None:
    """The run failed cleanly, for the reason `because` names, and left nothing in the store."""
    ctx.failed_cleanly(outcome, because, secrets=secrets)
    ctx.expect_equal(files(store), [], what)


def image_blobs(manifest_data: bytes, image: images.Image) -> set[str]:
    """Config and layer digests of an image manifest, or of every child of an index."""
    content = json.loads(manifest_data)
    if "manifests" in content:
        found: set[str] = set()
        for child in content["manifests"]:
            found |= image_blobs(image.manifests[child["digest"]].data, image)
        return found
    return {content["config"]["digest"], *(layer["digest"] for layer in content["layers"])}


def children(image: images.Image, platforms: list[str]) -> list[dict]:
    """The index descriptors of `platforms` (os/arch[/variant]), in index order."""
    index = json.loads(image.root.data)
    wanted = {image.child(p).digest for p in platforms}
    return [d for d in index["manifests"] if d["digest"] in wanted]


def expect_root(ctx: CaseContext, store: Path, reference: str, data: bytes, what: str) -> None:
    path = ctx.manifest_file(store, reference)
    found = ctx.read(path, store, what)
    ctx.expect(
        found == data,
        f"{what}: {path.relative_to(store)} differs from the expected bytes",
        images.sha256(data),
        images.sha256(found),
    )


def expect_blobs(ctx: CaseContext, store: Path, expected: set[str], what: str) -> None:
    found = blob_names(store)
    ctx.expect(
        found == expected,
        f"{what}: blobs/ holds other blobs than the image's",
        sorted(expected),
        {"missing": sorted(expected - found), "extra": sorted(found - expected)},
    )


def fill(value: Any, ctx: CaseContext) -> Any:
    """Case params with `{host}` (the registry, or an unreachable address without one),
    `{host-}` (the same with `-` for `:`) and `{ns}` (the case's namespace) filled in, in
    nested data."""
    if isinstance(value, str):
        host = ctx.target.host if ctx.target else "127.0.0.1:1"
        value = value.replace("{host-}", host.replace(":", "-"))
        return value.replace("{host}", host).replace("{ns}", ctx.namespace)
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ctx) for k, v in value.items()}
    return value


def corpus(name: str) -> images.Image:
    return CORPUS[name]
