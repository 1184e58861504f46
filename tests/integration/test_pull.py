"""pull: registry -> store, against a real distribution registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kkimage_fixtures import images
from tests import helpers
from tests.helpers import failed, ok

from .conftest import CORPUS


def pull_task(registry, store, manifests, **extra):
    return helpers.pull_task(store, manifests, [registry.auth()], **extra)


def manifest_file(store: Path, ref: str, name: str) -> Path:
    host_repo = ref.rsplit(":", 1)[0] if "@" not in ref else ref.split("@")[0]
    return store / host_repo / "manifests" / name


def blob_names(store: Path) -> set[str]:
    return set(os.listdir(store / "blobs"))


def all_files(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


def test_pull_without_filter_keeps_every_byte(kk, plain, store):
    names = ["multi", "dockerlist", "single-oci", "single-docker", "annotated", "artifact"]
    ok(kk.run(pull_task(plain, store, [plain.ref(n) for n in names])))
    expected_blobs = set()
    for name in names:
        image = CORPUS[name]
        ref = plain.ref(name)
        assert manifest_file(store, ref, "v1").read_bytes() == image.root.data
        for child in image.manifests.values():
            assert manifest_file(store, ref, child.digest).read_bytes() == child.data
        expected_blobs |= set(image.blobs)
    assert blob_names(store) == expected_blobs
    for digest in expected_blobs:
        assert (store / "blobs" / digest).stat().st_size == next(
            i.blobs[digest].size for i in CORPUS.values() if digest in i.blobs
        )
    ok(kk("verify", store))
    assert not [f for f in all_files(store) if "partial" in f or Path(f).name.startswith(".")]


def test_pull_by_digest_and_by_tag_at_digest(kk, plain, store):
    image = CORPUS["multi"]
    by_digest = f"{plain.host}/seed/multi@{image.digest}"
    tag_at_digest = f"{plain.host}/seed/dockerlist:pinned@{CORPUS['dockerlist'].digest}"
    ok(kk.run(pull_task(plain, store, [by_digest, tag_at_digest])))
    assert (
        store / plain.host / "seed/multi/manifests" / image.digest
    ).read_bytes() == image.root.data
    assert (store / plain.host / "seed/dockerlist/manifests/pinned").read_bytes() == CORPUS[
        "dockerlist"
    ].root.data
    listed = ok(kk("ls", store, "--json")).stdout
    assert {entry["reference"] for entry in json.loads(listed)} == {
        by_digest,
        f"{plain.host}/seed/dockerlist:pinned",
    }


def test_tag_at_wrong_digest_is_refused(kk, plain, store):
    wrong = CORPUS["single-oci"].digest
    result = kk.run(pull_task(plain, store, [f"{plain.host}/seed/multi:v1@{wrong}"]))
    failed(result, "seed/multi", "404")
    assert not (store / plain.host / "seed/multi/manifests").exists()


@pytest.mark.parametrize(
    ("name", "platforms", "kept"),
    [
        ("multi", ["linux/amd64"], ["linux/amd64"]),
        ("multi", ["amd64"], ["linux/amd64", "windows/amd64"]),
        ("multi", ["arm64", "linux/amd64"], ["linux/amd64", "linux/arm64/v8"]),
        ("multi", ["arm"], ["linux/arm/v7"]),
        ("multi", ["linux/arm/v6"], ["linux/arm/v6"]),
        ("multi", ["aarch64"], ["linux/arm64/v8"]),
        ("dockerlist", ["arm64"], ["linux/arm64/v8"]),
    ],
)
def test_platform_filter_writes_a_filtered_index(kk, plain, store, name, platforms, kept):
    image = CORPUS[name]
    ok(kk.run(pull_task(plain, store, [plain.ref(name)], platform=platforms)))
    stored = json.loads(manifest_file(store, plain.ref(name), "v1").read_bytes())
    original = json.loads(image.root.data)
    assert stored["mediaType"] == original["mediaType"]
    children = [image.child(p) for p in kept]
    assert stored["manifests"] == [
        d for d in original["manifests"] if d["digest"] in {c.digest for c in children}
    ]
    # only the kept children and their blobs were transferred
    expected = set()
    for child in children:
        content = json.loads(child.data)
        expected |= {content["config"]["digest"], *(layer["digest"] for layer in content["layers"])}
    assert blob_names(store) == expected
    ok(kk("verify", store))


def test_filtered_index_is_deterministic_and_keeps_other_fields(kk, plain, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for store in (first, second):
        ok(kk.run(pull_task(plain, store, [plain.ref("annotated")], platform=["linux/arm64"])))
    path = Path(plain.host) / "seed/annotated/manifests/v1"
    assert (first / path).read_bytes() == (second / path).read_bytes()
    stored = json.loads((first / path).read_bytes())
    assert stored["annotations"] == json.loads(CORPUS["annotated"].root.data)["annotations"]
    assert "org.opencontainers.image.created" not in stored.get("annotations", {})
    assert stored["manifests"][0]["annotations"] == {"org.kkimage.test.platform": "linux/arm64/v8"}


def test_filter_that_keeps_everything_keeps_the_original_bytes(kk, plain, store):
    platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    ok(kk.run(pull_task(plain, store, [plain.ref("dockerlist")], platform=platforms)))
    assert (
        manifest_file(store, plain.ref("dockerlist"), "v1").read_bytes()
        == CORPUS["dockerlist"].root.data
    )


def test_strict_missing_platform_fails_and_writes_no_image(kk, plain, store):
    result = kk.run(
        pull_task(plain, store, [plain.ref("dockerlist")], platform=["linux/s390x", "amd64"])
    )
    failed(result, "seed/dockerlist:v1", "linux/s390x")
    assert not manifest_file(store, plain.ref("dockerlist"), "v1").exists()


def test_warn_keeps_the_subset_and_skips_what_has_nothing(kk, plain, store):
    task = pull_task(
        plain,
        store,
        [plain.ref("dockerlist"), plain.ref("single-oci")],
        platform=["linux/s390x", "arm64"],
        policy="warn",
    )
    result = ok(kk.run(task))
    assert "linux/s390x" in result.stderr and "skipped" in result.stderr
    stored = json.loads(manifest_file(store, plain.ref("dockerlist"), "v1").read_bytes())
    assert [d["platform"]["architecture"] for d in stored["manifests"]] == ["arm64"]
    assert not manifest_file(store, plain.ref("single-oci"), "v1").exists()


def test_single_manifest_platform_comes_from_its_config(kk, plain, store):
    ok(kk.run(pull_task(plain, store, [plain.ref("single-docker")], platform=["linux/arm64/v8"])))
    assert (
        manifest_file(store, plain.ref("single-docker"), "v1").read_bytes()
        == CORPUS["single-docker"].root.data
    )
    result = kk.run(pull_task(plain, store, [plain.ref("single-arm")], platform=["arm64"]))
    line = failed(result, "seed/single-arm:v1", "linux/arm/v7")
    assert line.count("seed/single-arm:v1") == 1
    assert set(os.listdir(store / "blobs")) == set(CORPUS["single-docker"].blobs)  # no config


def test_bytes_are_counted_once_per_image(kk, plain, store):
    names = ("single-oci", "dockerlist")
    task = pull_task(plain, store, [plain.ref(n) for n in names], platform=["amd64"])
    summary = json.loads(ok(kk.run(task, "--json")).stdout)
    child = json.loads(CORPUS["dockerlist"].child("linux/amd64").data)
    expected = [
        sum(b.size for b in CORPUS["single-oci"].blobs.values()),
        sum(d["size"] for d in [child["config"], *child["layers"]]),
    ]
    assert [i["bytes_transferred"] for i in summary["images"]] == expected
    assert [i["bytes_skipped"] for i in summary["images"]] == [0, 0]
    assert [i["platforms"] for i in summary["images"]] == [["linux/amd64"], ["linux/amd64"]]


def test_second_run_transfers_no_blob_bytes(kk, plain, store):
    task = pull_task(
        plain, store, [plain.ref("multi"), plain.ref("shared-a"), plain.ref("shared-b")]
    )
    first = json.loads(ok(kk.run(task, "--json")).stdout)
    second = json.loads(ok(kk.run(task, "--json")).stdout)
    assert sum(i["bytes_transferred"] for i in first["images"]) > 0
    assert [i["bytes_transferred"] for i in second["images"]] == [0, 0, 0]
    assert [i["bytes_skipped"] for i in second["images"]] == [
        sum(b.size for b in CORPUS[n].blobs.values()) for n in ("multi", "shared-a", "shared-b")
    ]


def test_shared_layers_are_fetched_once(kk, plain, store):
    summary = json.loads(
        ok(
            kk.run(
                pull_task(plain, store, [plain.ref("shared-a"), plain.ref("shared-b")]), "--json"
            )
        ).stdout
    )
    total = sum(i["bytes_transferred"] for i in summary["images"])
    distinct = {d: b.size for n in ("shared-a", "shared-b") for d, b in CORPUS[n].blobs.items()}
    assert total == sum(distinct.values())


def test_corrupt_blob_is_refused_and_nothing_broken_stays(kk, plain, store, namespace):
    image = images.single(f"{namespace}-bad", seed=namespace)
    plain.client.push(f"{namespace}/bad", image)
    layer = json.loads(image.root.data)["layers"][0]["digest"]
    data = (
        plain.running.data_dir / "docker/registry/v2/blobs/sha256" / layer[7:9] / layer[7:] / "data"
    )
    content = bytearray(data.read_bytes())
    content[10] ^= 0xFF
    data.write_bytes(bytes(content))
    result = kk.run(pull_task(plain, store, [f"{plain.host}/{namespace}/bad:v1"]))
    failed(result, f"{namespace}/bad:v1", layer)
    assert layer not in blob_names(store)
    assert not (store / plain.host / namespace / "bad/manifests/v1").exists()
    assert not [f for f in all_files(store) if "partial" in f]
    ok(kk("verify", store))


def test_unknown_image_names_it(kk, plain, store):
    failed(
        kk.run(pull_task(plain, store, [plain.ref("does-not-exist")])),
        "seed/does-not-exist:v1",
        "404",
    )


def test_pull_subcommand_has_the_same_semantics(kk, plain, store, tmp_path):
    auths = tmp_path / "auths.yaml"
    auths.write_text(json.dumps([plain.auth()]))
    ok(
        kk(
            "pull",
            "--images-dir",
            store,
            "--auths",
            auths,
            "--platform",
            "linux/arm64,linux/amd64",
            plain.ref("multi"),
        )
    )
    stored = json.loads(manifest_file(store, plain.ref("multi"), "v1").read_bytes())
    assert len(stored["manifests"]) == 2
