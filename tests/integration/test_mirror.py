"""mirror: registry -> registry through the same copy algorithm, streamed (no store on disk);
checked with skopeo as an independent reader."""

from __future__ import annotations

import json

import yaml

from tests.helpers import failed, ok

from .conftest import CORPUS
from .test_push import skopeo_raw


def mirror(kk, tmp_path, source, dest, auths, *extra):
    path = tmp_path / "auths.yaml"
    path.write_text(yaml.safe_dump(auths))
    return kk("mirror", source, dest, "--auths", path, "--json", *extra)


def test_every_kind_of_image_is_mirrored_byte_exact_between_registries(
    kk, tmp_path, plain, basic, namespace
):
    auths = [plain.auth(), basic.auth()]
    for name, image in CORPUS.items():
        dest = f"{basic.host}/{namespace}/{name}"
        ok(mirror(kk, tmp_path, plain.ref(name), dest, auths))
        assert skopeo_raw(basic, f"{namespace}/{name}:v1") == image.root.data, name
        for digest, child in image.manifests.items():
            assert skopeo_raw(basic, f"{namespace}/{name}@{digest}") == child.data
        for digest in image.blobs:
            assert basic.client.has_blob(f"{namespace}/{name}", digest)
    assert not list(tmp_path.rglob("blobs")), "mirror wrote a store"


def test_several_sources_in_one_run_each_to_its_rendered_destination(
    kk, tmp_path, plain, basic, namespace
):
    names = ["multi", "single-oci", "shared-a"]
    dest = f"{basic.host}/{namespace}/" + "{{ .module.image.src.reference.repository }}"
    path = tmp_path / "auths.yaml"
    path.write_text(yaml.safe_dump([plain.auth(), basic.auth()]))
    sources = [plain.ref(n) for n in names]
    summary = json.loads(ok(kk("mirror", *sources, dest, "--auths", path, "--json")).stdout)
    assert len(summary["images"]) == len(names)
    for name in names:
        stored = skopeo_raw(basic, f"{namespace}/seed/{name}:v1")
        assert stored == CORPUS[name].root.data, name


def test_within_one_registry_every_blob_is_mounted(kk, tmp_path, plain, namespace):
    dest = f"{plain.host}/{namespace}/copy:v2"
    summary = json.loads(ok(mirror(kk, tmp_path, plain.ref("multi"), dest, [plain.auth()])).stdout)
    (image,) = summary["images"]
    assert image["bytes_transferred"] == 0
    assert image["bytes_mounted"] == sum(b.size for b in CORPUS["multi"].blobs.values())
    assert skopeo_raw(plain, f"{namespace}/copy:v2") == CORPUS["multi"].root.data


def test_a_filtered_mirror_keeps_the_platform_asked_for(kk, tmp_path, plain, namespace):
    dest = f"{plain.host}/{namespace}/" + "{{ .module.image.src.reference.repository }}"
    result = mirror(kk, tmp_path, plain.ref("multi"), dest, [plain.auth()], "--platform", "arm64")
    (image,) = json.loads(ok(result).stdout)["images"]
    assert image["destination"] == f"{plain.host}/{namespace}/seed/multi:v1"
    assert image["platforms"] == ["linux/arm64/v8"]
    index = json.loads(skopeo_raw(plain, f"{namespace}/seed/multi:v1"))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["arm64"]


def test_bad_input_is_refused_before_any_io(kk, tmp_path, plain, namespace):
    dest = f"{plain.host}/{namespace}/x"
    failed(mirror(kk, tmp_path, f"{plain.host}/Seed/App:v1", dest, []), "invalid image reference")
    undefined = f"{plain.host}/{namespace}/" + "{{ .nope }}"
    failed(mirror(kk, tmp_path, plain.ref("multi"), undefined, []), "undefined variable .nope")
    assert plain.client.tags(f"{namespace}/x") == []
