"""copy: store -> store. No registry involved: these run on KubeKey-layout stores."""

from __future__ import annotations

import json
import os

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.stores import corrupt_blob, write_store
from tests.helpers import failed, ok

CORPUS = images.corpus()
SOURCE_IMAGES = {
    "registry-1.docker.io/calico/apiserver:v3.28.2": CORPUS["multi"],
    "registry-1.docker.io/calico/node:v3.28.2": CORPUS["dockerlist"],
    "quay.io/org/single:v1": CORPUS["single-oci"],
}


@pytest.fixture
def source(tmp_path):
    return write_store(tmp_path / "from", SOURCE_IMAGES)


def copy_task(source, to_path, manifests=None, **extra):
    from_ = {"path": str(source)}
    if manifests is not None:
        from_["manifests"] = manifests
    to = {"path": str(to_path), **extra.pop("to", {})}
    return {"name": "copy", "image": {"copy": {"from": from_, "to": to, **extra}}}


def test_the_seed_example_copies_listed_manifests_only(kk, source, tmp_path):
    target = tmp_path / "to"
    ok(kk.run(copy_task(source, target, ["docker.io/calico/apiserver:v3.28.2"])))
    image = CORPUS["multi"]
    assert (target / "docker.io/calico/apiserver/manifests/v3.28.2").read_bytes() == image.root.data
    assert set(os.listdir(target / "blobs")) == set(image.blobs)
    assert not (target / "docker.io/calico/node").exists()
    assert not (target / "quay.io").exists()
    ok(kk("verify", target))


def test_everything_when_no_manifests_are_listed(kk, source, tmp_path):
    target = tmp_path / "to"
    ok(kk.run(copy_task(source, target)))
    listed = json.loads(ok(kk("ls", target, "--json")).stdout)
    assert {(e["reference"], e["digest"]) for e in listed} == {
        (ref.replace("registry-1.docker.io", "docker.io"), image.digest)
        for ref, image in SOURCE_IMAGES.items()
    }


def test_platform_filter(kk, source, tmp_path):
    target = tmp_path / "to"
    ok(
        kk.run(
            copy_task(source, target, ["docker.io/calico/node:v3.28.2"], platform=["linux/arm/v7"])
        )
    )
    stored = json.loads((target / "docker.io/calico/node/manifests/v3.28.2").read_bytes())
    assert stored["mediaType"] == images.DOCKER_LIST
    assert [d["platform"]["variant"] for d in stored["manifests"]] == ["v7"]
    child = CORPUS["dockerlist"].child("linux/arm/v7")
    content = json.loads(child.data)
    assert set(os.listdir(target / "blobs")) == {
        content["config"]["digest"],
        content["layers"][0]["digest"],
        content["layers"][1]["digest"],
    }


@pytest.mark.parametrize("key", ["pattern", "src_pattern"])
def test_to_pattern_filters_by_name(kk, source, tmp_path, key):
    target = tmp_path / "to"
    ok(kk.run(copy_task(source, target, to={key: "calico/(api|x)"})))
    assert [e["reference"] for e in json.loads(ok(kk("ls", target, "--json")).stdout)] == [
        "docker.io/calico/apiserver:v3.28.2"
    ]


def test_templated_destination_path(kk, source, tmp_path):
    to = str(tmp_path / "out") + '/{{ .module.image.src.reference.repository | replace "/" "_" }}'
    ok(kk.run(copy_task(source, to)))
    assert sorted(os.listdir(tmp_path / "out")) == ["calico_apiserver", "calico_node", "org_single"]
    assert (tmp_path / "out/org_single/quay.io/org/single/manifests/v1").read_bytes() == CORPUS[
        "single-oci"
    ].root.data


def test_damaged_source_blob_is_not_propagated(kk, source, tmp_path):
    image = CORPUS["single-oci"]
    layer = json.loads(image.root.data)["layers"][0]["digest"]
    corrupt_blob(source, image.blobs[layer])
    target = tmp_path / "to"
    failed(
        kk.run(copy_task(source, target, ["quay.io/org/single:v1"])), "quay.io/org/single:v1", layer
    )
    assert layer not in os.listdir(target / "blobs")
    assert not (target / "quay.io/org/single/manifests/v1").exists()


def test_listed_image_missing_from_the_store(kk, source, tmp_path):
    failed(
        kk.run(copy_task(source, tmp_path / "to", ["quay.io/org/other:v1"])),
        "quay.io/org/other:v1 is not in store",
    )


def test_copy_by_digest_from_an_l1_store(kk, source, tmp_path):
    digest = CORPUS["single-oci"].digest
    target = tmp_path / "to"
    ok(kk.run(copy_task(source, target, [f"quay.io/org/single@{digest}"])))
    assert (target / "quay.io/org/single/manifests" / digest).read_bytes() == CORPUS[
        "single-oci"
    ].root.data


def test_a_path_template_rendering_to_nothing_is_refused(kk, source, tmp_path):
    result = kk.run(copy_task(source, "{{ .out }}"), "--var", "out=")
    failed(result, "renders to an empty path")
    assert not (tmp_path / "blobs").exists()
