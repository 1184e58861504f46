"""Cases written in G1 are rendered in G2 as KubeKey's builtin roles write tasks, and read
back in the layout each format writes (docs/conformance.md, "Formats")."""

from __future__ import annotations

import json

import pytest

from conformance.formats import PULL_SRC, NotInFormat, render
from conformance.stores import images, manifest_file
from kkimage_fixtures.images import corpus
from kkimage_fixtures.stores import write_store


def test_a_pull_becomes_the_download_roles_task():
    task = {
        "name": "pull",
        "when": "true",
        "image": {
            "pull": {
                "images_dir": "/data/images",
                "manifests": ["quay.io/a/b:v1"],
                "platform": ["linux/arm64"],
                "auths": [{"repo": "quay.io", "insecure": True, "username": "u"}],
            }
        },
    }
    [rendered] = render([task], "g2")
    assert rendered["name"] == "pull" and rendered["when"] == "true"
    assert rendered["image"] == {
        "src": PULL_SRC,
        "dest": "local:///data/images",
        "auths": [{"registry": "quay.io", "skip_tls_verify": True, "username": "u"}],
        "manifests": ["quay.io/a/b:v1"],
        "platform": ["linux/arm64"],
    }


def test_g1_is_rendered_as_written():
    tasks = [{"name": "pull", "image": {"pull": {"images_dir": "x", "manifests": ["a:v1"]}}}]
    assert render(tasks, "g1") is tasks


def test_a_push_lists_the_image_roots_of_its_store_and_renames_the_variables(tmp_path):
    store = write_store(tmp_path / "s", {"quay.io/org/app:v1": corpus()["single-oci"]})
    write_store(store, {"registry-1.docker.io/library/hub:v2": corpus()["multi"]}, "L2")
    (store / "quay.io/org/notes/manifests").mkdir(parents=True)
    (store / "quay.io/org/notes/manifests/v1").write_text("not json")
    dest = "reg.example/{{ .module.image.src.reference.repository }}:v1"
    task = {"image": {"push": {"images_dir": str(store), "dest": dest, "src_pattern": "app"}}}
    [rendered] = render([task], "g2")
    assert rendered["image"] == {
        "src": f"local://{store}",
        "dest": "oci://reg.example/{{ .module.image.reference.repository }}:v1",
        "pattern": "app",
        "manifests": ["docker.io/library/hub:v2", "quay.io/org/app:v1"],
    }


def test_several_operations_in_one_task_become_tasks_in_g1s_order():
    image = {
        "copy": {"from": {"path": "a"}, "to": {"path": "b"}},
        "pull": {"images_dir": "a", "manifests": ["x/y:v1"]},
    }
    rendered = render([{"name": "both", "image": image}], "g2")
    assert [t["image"]["dest"] for t in rendered] == ["local://a", "local://b"]


@pytest.mark.parametrize(
    "image",
    [
        {"pull": {"images_dir": "a", "manifests": ["x/y:v1"], "skip_tls_verify": True}},
        {
            "copy": {
                "from": {"path": "a"},
                "to": {"path": "{{ .module.image.src.reference.registry }}"},
            }
        },
        {"copy": {"from": {"path": "a", "extra": 1}, "to": {"path": "b"}}},
    ],
)
def test_what_g2_cannot_say_is_a_harness_error(image):
    with pytest.raises(NotInFormat):
        render([{"image": image}], "g2")


def test_the_reader_follows_each_layout(tmp_path):
    image = corpus()["multi"]
    l1 = write_store(tmp_path / "l1", {"docker.io/library/app:v1": image}, "L1")
    l2 = write_store(tmp_path / "l2", {"registry-1.docker.io/library/app:v1": image}, "L2")
    reference = "docker.io/library/app:v1"
    assert manifest_file(l1, reference).read_bytes() == image.root.data
    assert manifest_file(l2, reference, layout="L2").read_bytes() == image.root.data
    assert not manifest_file(l1, reference, layout="L2").exists()  # L1 is not L2
    assert manifest_file(l2, reference).exists() is False  # nor L2 L1
    assert set(images(l1)) == set(images(l2)) == {reference}


def test_an_l2_tag_missing_from_the_layout_file_has_no_file(tmp_path):
    store = write_store(tmp_path / "s", {"quay.io/a/b:v1": corpus()["single-oci"]}, "L2")
    layout = store / "quay.io/a/b/manifests/layout"
    assert json.loads(layout.read_bytes()) == {"v1": corpus()["single-oci"].root.digest}
    assert not manifest_file(store, "quay.io/a/b:v2", layout="L2").exists()


def test_a_push_after_a_pull_of_the_same_run_lists_what_the_pull_brings(tmp_path):
    store = str(tmp_path / "s")
    tasks = [
        {"image": {"pull": {"images_dir": store, "manifests": ["quay.io/a/b:v1"]}}},
        {"image": {"push": {"images_dir": store, "dest": "reg.example/x"}}},
    ]
    assert render(tasks, "g2")[1]["image"]["manifests"] == ["quay.io/a/b:v1"]
