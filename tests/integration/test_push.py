"""push: store -> registry, destinations from templates; checked with skopeo as an
independent reader."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.stores import write_store
from tests import helpers
from tests.helpers import failed, ok, pull_task

from .conftest import CORPUS

SEED_DEST = (
    "{{ .module.image.src.reference.repository }}:{{ .module.image.src.reference.reference }}"
)


def push_task(registry, store, dest, **extra):
    return helpers.push_task(store, dest, [registry.auth()], **extra)


def skopeo_raw(registry, reference: str) -> bytes:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is required for the push cross-checks (apt-get install skopeo)")
    command = ["skopeo", "inspect", "--raw", f"docker://{registry.host}/{reference}"]
    if registry.running.tls:  # the CA alone: skopeo takes any *.key there for a client's
        certs = registry.running.workdir / "skopeo-certs"
        certs.mkdir(exist_ok=True)
        shutil.copy(registry.running.ca_file, certs / "ca.crt")
        command.insert(3, f"--cert-dir={certs}")
    else:
        command.insert(3, "--tls-verify=false")
    if registry.running.username:
        command.insert(3, f"--creds={registry.running.username}:{registry.running.password}")
    return subprocess.run(command, capture_output=True, check=True, timeout=60).stdout


def test_pull_then_push_preserves_every_digest(kk, plain, pulled, namespace):
    dest = f"{plain.host}/{namespace}/" + SEED_DEST
    ok(kk.run(push_task(plain, pulled, dest)))
    for name, image in CORPUS.items():
        assert skopeo_raw(plain, f"{namespace}/seed/{name}:v1") == image.root.data, name
        for child in image.manifests.values():
            assert skopeo_raw(plain, f"{namespace}/seed/{name}@{child.digest}") == child.data
        for digest in image.blobs:
            assert plain.client.has_blob(f"{namespace}/seed/{name}", digest)


def test_seed_example_from_a_kubekey_v403_store(kk, plain, tmp_path, namespace):
    image = CORPUS["dockerlist"]
    store = write_store(
        tmp_path / "l1",
        {
            "registry-1.docker.io/kubesphere/ks-apiserver:v4.1.3": image,
            "registry-1.docker.io/kubesphere/ks-console:3.19": CORPUS["single-oci"],
        },
    )
    dest = f"{plain.host}/{namespace}/" + SEED_DEST
    ok(kk.run(push_task(plain, store, dest)))
    assert skopeo_raw(plain, f"{namespace}/kubesphere/ks-apiserver:v4.1.3") == image.root.data
    assert (
        skopeo_raw(plain, f"{namespace}/kubesphere/ks-console:3.19")
        == CORPUS["single-oci"].root.data
    )


def test_push_from_a_kubekey_v404_store(kk, plain, tmp_path, namespace):
    store = write_store(tmp_path / "l2", {"quay.io/org/multi:v2": CORPUS["multi"]}, layout="L2")
    ok(kk.run(push_task(plain, store, f"{plain.host}/{namespace}/" + SEED_DEST)))
    assert skopeo_raw(plain, f"{namespace}/org/multi:v2") == CORPUS["multi"].root.data


def test_src_pattern_is_an_unanchored_search(kk, plain, pulled, namespace):
    dest = f"{plain.host}/{namespace}/" + "{{ .module.image.src.reference.repository }}"
    ok(kk.run(push_task(plain, pulled, dest, src_pattern="single-(oci|docker):v1")))
    pushed = {n for n in CORPUS if plain.client.tags(f"{namespace}/seed/{n}")}
    assert pushed == {"single-oci", "single-docker"}


def test_literal_destination_and_destination_without_tag(kk, plain, pulled, namespace):
    ok(
        kk.run(
            push_task(
                plain, pulled, f"{plain.host}/{namespace}/fixed:pinned", src_pattern="/multi:"
            )
        )
    )
    assert plain.client.tags(f"{namespace}/fixed") == ["pinned"]
    ok(
        kk.run(
            push_task(plain, pulled, f"{plain.host}/{namespace}/notag", src_pattern="/artifact:")
        )
    )
    assert plain.client.tags(f"{namespace}/notag") == ["v1"]


def test_user_variables_and_sprig_pipelines(kk, plain, pulled, namespace, tmp_path):
    variables = tmp_path / "vars.yaml"
    variables.write_text(f"mirror: {plain.host}\n")
    dest = (
        '{{ .mirror }}/{{ .module.image.src.reference.repository | replace "/" "-" }}'
        ":{{ .module.image.src.reference.reference | upper }}-{{ .suffix }}"
    )
    task = push_task(plain, pulled, dest, src_pattern="single-oci")
    ok(kk.run(task, "--vars", variables, "--var", f"suffix={namespace}"))
    assert plain.client.tags("seed-single-oci") == [f"V1-{namespace}"]


def test_undefined_variable_fails_before_any_push(kk, plain, pulled, namespace):
    dest = f"{plain.host}/{namespace}/" + "{{ .module.image.src.reference.repo }}"
    failed(
        kk.run(push_task(plain, pulled, dest)),
        "undefined variable .module.image.src.reference.repo",
    )
    assert plain.client.tags(f"{namespace}/seed/multi") == []


def test_shared_layers_are_mounted_across_repositories(kk, plain, pulled, namespace):
    dest = f"{plain.host}/{namespace}/" + SEED_DEST
    summary = json.loads(
        ok(kk.run(push_task(plain, pulled, dest, src_pattern="shared-"), "--json")).stdout
    )
    base = images.shared_base()[0]
    mounted = sum(i["bytes_mounted"] for i in summary["images"])
    uploaded = sum(i["bytes_transferred"] for i in summary["images"])
    assert mounted == base.size  # once uploaded, once mounted
    distinct = {d: b.size for n in ("shared-a", "shared-b") for d, b in CORPUS[n].blobs.items()}
    assert uploaded + mounted == sum(distinct.values()) + base.size
    for repository in ("shared-a", "shared-b"):
        assert plain.client.has_blob(f"{namespace}/seed/{repository}", base.digest)


def test_second_push_uploads_nothing(kk, plain, pulled, namespace):
    task = push_task(plain, pulled, f"{plain.host}/{namespace}/" + SEED_DEST)
    ok(kk.run(task))
    again = json.loads(ok(kk.run(task, "--json")).stdout)
    assert {i["bytes_transferred"] for i in again["images"]} == {0}


def test_filtered_store_pushes_the_filtered_index_byte_exact(kk, plain, tmp_path, namespace):
    store = tmp_path / "filtered"
    ok(kk.run(pull_task(store, [plain.ref("multi")], [plain.auth()], platform=["linux/arm64"])))
    stored = (store / plain.host / "seed/multi/manifests/v1").read_bytes()
    ok(kk.run(push_task(plain, store, f"{plain.host}/{namespace}/" + SEED_DEST)))
    assert skopeo_raw(plain, f"{namespace}/seed/multi:v1") == stored


def test_digest_pulled_image_is_pushed_by_digest(kk, plain, tmp_path, namespace):
    store = tmp_path / "bydigest"
    digest = CORPUS["single-docker"].digest
    ok(kk.run(pull_task(store, [f"{plain.host}/seed/single-docker@{digest}"], [plain.auth()])))
    ok(kk.run(push_task(plain, store, f"{plain.host}/{namespace}/" + SEED_DEST)))
    assert (
        skopeo_raw(plain, f"{namespace}/seed/single-docker@{digest}")
        == CORPUS["single-docker"].root.data
    )


def test_incomplete_store_is_refused_before_upload(kk, plain, tmp_path, namespace):
    image = images.single(f"{namespace}-incomplete", seed=namespace)
    store = write_store(tmp_path / "s", {"quay.io/org/app:v1": image})
    layer = json.loads(image.root.data)["layers"][0]["digest"]
    (store / "blobs" / layer).unlink()
    failed(
        kk.run(push_task(plain, store, f"{plain.host}/{namespace}/app")),
        "quay.io/org/app:v1",
        layer,
    )
    assert plain.client.tags(f"{namespace}/app") == []


def test_missing_store_is_an_error(kk, plain, tmp_path):
    failed(kk.run(push_task(plain, tmp_path / "nope", f"{plain.host}/x")), "does not exist")


def test_two_images_to_one_destination_are_refused(kk, plain, pulled, namespace):
    result = kk.run(push_task(plain, pulled, f"{plain.host}/{namespace}/all:latest"))
    failed(result, "would both be pushed to")
    assert plain.client.tags(f"{namespace}/all") == []
