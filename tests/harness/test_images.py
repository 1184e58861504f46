"""The generator is deterministic, and the stores look like KubeKey's."""

from __future__ import annotations

import json
import os

from kkimage_fixtures import images
from kkimage_fixtures.stores import write_store

# Pinned: stores and expectations written with earlier versions stay valid only if these hold.
GOLDEN = {
    "multi": "sha256:513144debd9eaf9c167422840341bfc87efe89b6fa0961ed02e75f643721f4b1",
    "dockerlist": "sha256:33f474d364449b0be244fc589045f6616eb7b52393b4e64a25430c95bdd25ec8",
    "single-oci": "sha256:6dd4e77e32d31b17288219962cb9e8e9c0fb6add3aabda7dc639d6c36c4250af",
}


def test_same_input_same_digests():
    first, second = images.corpus(), images.corpus()
    assert {n: i.digest for n, i in first.items()} == {n: i.digest for n, i in second.items()}
    assert {n: first[n].digest for n in GOLDEN} == GOLDEN


def test_multi_arch_has_the_documented_platforms_and_an_attestation():
    multi = images.corpus()["multi"]
    index = json.loads(multi.root.data)
    spelled = [
        "/".join(
            v
            for v in (
                d["platform"]["os"],
                d["platform"]["architecture"],
                d["platform"].get("variant"),
            )
            if v
        )
        for d in index["manifests"]
    ]
    assert spelled == [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/s390x",
        "windows/amd64",
        "unknown/unknown",
    ]
    assert (
        index["manifests"][-1]["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    )
    for descriptor in index["manifests"]:
        assert images.sha256(multi.manifests[descriptor["digest"]].data) == descriptor["digest"]


def test_every_blob_and_manifest_is_referenced_with_the_right_size():
    for image in images.corpus().values():
        for manifest in [image.root, *image.manifests.values()]:
            content = json.loads(manifest.data)
            for d in [
                *content.get("manifests", []),
                *content.get("layers", []),
                content.get("config"),
            ]:
                if d:
                    known = image.manifests.get(d["digest"]) or image.blobs.get(d["digest"])
                    assert known is not None and known.size == d["size"]


def test_large_layers_are_incompressible_and_exact():
    big = images.single("big", layer_sizes=(5 << 20,))
    layer = max(big.blobs.values(), key=lambda b: b.size)
    assert layer.size == 5 << 20
    import zlib

    assert len(zlib.compress(layer.data[: 1 << 20])) > (1 << 20) * 0.99


def test_shared_base_is_shared():
    corpus = images.corpus()
    base = images.shared_base()[0].digest
    assert base in corpus["shared-a"].blobs and base in corpus["shared-b"].blobs


def test_l1_and_l2_stores(tmp_path):
    multi = images.corpus()["multi"]
    l1 = write_store(tmp_path / "l1", {"registry-1.docker.io/library/x:v1": multi})
    assert (l1 / "registry-1.docker.io/library/x/manifests/v1").read_bytes() == multi.root.data
    assert set(os.listdir(l1 / "blobs")) == set(multi.blobs)
    l2 = write_store(tmp_path / "l2", {"quay.io/a/x:v1": multi, "quay.io/a/x:v2": multi}, "L2")
    manifests = l2 / "quay.io/a/x/manifests"
    assert json.loads((manifests / "layout").read_text()) == {
        "v1": multi.digest,
        "v2": multi.digest,
    }
    assert (manifests / "layout").read_text().startswith('{\n  "v1"')
    assert (manifests / multi.digest).read_bytes() == multi.root.data
    assert not (manifests / "v1").exists()
