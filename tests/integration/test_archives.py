"""export and import: a store to and from OCI layouts, OCI archives and Docker archives,
checked with independent readers (skopeo, and `docker load` where a Docker engine runs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.stores import corrupt_blob, write_store
from tests.helpers import failed, ok

from .conftest import CORPUS
from .test_push import SEED_DEST, push_task, skopeo_raw

SINGLE = ("single-oci", "single-docker")
# skopeo 1.9 reads an OCI layout's OCI-typed entries only (Docker manifests and lists in
# index.json are the layout's as much, and kkimage reads them back: see the round trip).
OCI_TYPED = [n for n, i in CORPUS.items() if b"vnd.docker" not in i.root.data]


def skopeo_local(transport: str, path, name: str) -> bytes:
    command = ["skopeo", "inspect", "--raw", f"{transport}:{path}:{name}"]
    return subprocess.run(command, capture_output=True, check=True, timeout=60).stdout


@pytest.mark.parametrize(
    ("format", "transport"), [("oci-layout", "oci"), ("oci-archive", "oci-archive")]
)
def test_every_digest_survives_store_to_archive_to_store_to_registry(
    kk, plain, pulled, tmp_path, namespace, format, transport
):
    archive = tmp_path / f"images.{format}"
    ok(kk("export", "--images-dir", pulled, "--format", format, "--output", archive))
    for name in OCI_TYPED:
        assert skopeo_local(transport, archive, plain.ref(name)) == CORPUS[name].root.data, name
    back = tmp_path / "back"
    ok(kk("import", "--images-dir", back, archive))
    ok(kk("verify", back))
    dest = f"{plain.host}/{namespace}/" + SEED_DEST
    ok(kk.run(push_task(plain, back, dest)))
    for name, image in CORPUS.items():
        repository = f"{namespace}/seed/{name}"
        assert skopeo_raw(plain, f"{repository}:v1") == image.root.data, name
        for digest, child in image.manifests.items():
            assert skopeo_raw(plain, f"{repository}@{digest}") == child.data


def test_a_docker_archive_holds_one_platform_per_image_and_keeps_digests(
    kk, plain, pulled, tmp_path
):
    archive = tmp_path / "images.tar"
    refs = [plain.ref(n) for n in SINGLE]
    ok(
        kk(
            "export",
            "--images-dir",
            pulled,
            "--format",
            "docker-archive",
            "--output",
            archive,
            *refs,
        )
    )
    with tarfile.open(archive) as tar:
        entries = json.load(tar.extractfile("manifest.json"))
    assert sorted(e["RepoTags"][0] for e in entries) == sorted(refs)
    for name in SINGLE:  # skopeo reads manifest.json (and makes a manifest of its own)
        raw = json.loads(skopeo_local("docker-archive", archive, plain.ref(name)))
        original = json.loads(CORPUS[name].root.data)
        assert raw["config"]["digest"] == original["config"]["digest"]
        assert [x["digest"] for x in raw["layers"]] == [x["digest"] for x in original["layers"]]
    back = tmp_path / "back"
    ok(kk("import", "--images-dir", back, archive))  # through index.json: digests kept
    for name in SINGLE:
        stored = back / plain.host / "seed" / name / "manifests" / "v1"
        assert stored.read_bytes() == CORPUS[name].root.data


def test_a_docker_archive_of_several_platforms_is_refused_and_written_nowhere(
    kk, plain, pulled, tmp_path
):
    archive = tmp_path / "multi.tar"
    args = ["--images-dir", pulled, "--format", "docker-archive", "--output", archive]
    failed(kk("export", *args, plain.ref("multi")), "one platform per image", "--platform")
    failed(kk("export", *args, plain.ref("artifact")), "holds container images")
    assert list(tmp_path.glob("*multi.tar*")) == []
    ok(kk("export", *args, "--platform", "linux/amd64", plain.ref("multi")))
    with tarfile.open(archive) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
    amd64 = json.loads(CORPUS["multi"].child("linux/amd64").data)
    assert entry["Config"] == "blobs/sha256/" + amd64["config"]["digest"].removeprefix("sha256:")


def test_an_archive_made_by_skopeo_is_imported_and_verifies(kk, plain, tmp_path):
    archive = tmp_path / "skopeo.tar"
    name = plain.ref("multi")
    command = ["skopeo", "copy", "-q", "--all", "--preserve-digests", "--src-tls-verify=false"]
    subprocess.run([*command, f"docker://{name}", f"oci-archive:{archive}:{name}"], check=True)
    back = tmp_path / "back"
    ok(kk("import", "--images-dir", back, archive))
    ok(kk("verify", back))
    stored = back / plain.host / "seed" / "multi" / "manifests" / "v1"
    assert stored.read_bytes() == CORPUS["multi"].root.data


def test_import_writes_the_layout_kubekey_reads_when_asked(kk, plain, pulled, tmp_path):
    archive = tmp_path / "images.tar"
    ok(kk("export", "--images-dir", pulled, "--format", "oci-archive", "--output", archive))
    l2 = tmp_path / "l2"
    ok(kk("import", "--images-dir", l2, "--layout", "L2", archive))
    manifests = l2 / plain.host / "seed" / "multi" / "manifests"
    assert json.loads((manifests / "layout").read_text()) == {"v1": CORPUS["multi"].digest}
    assert not (manifests / "v1").exists()  # no tag files in L2
    ok(kk("verify", l2))


def test_an_export_cut_short_leaves_no_archive(kk, tmp_path):
    store = write_store(tmp_path / "store", {"quay.io/org/app:v1": CORPUS["multi"]})
    layer = json.loads(CORPUS["multi"].child("linux/s390x").data)["layers"][0]["digest"]
    corrupt_blob(store, layer)
    for format in ("oci-archive", "docker-archive", "oci-layout"):
        output = tmp_path / f"out-{format}"
        args = ["--format", format, "--output", output, "--platform", "linux/s390x"]
        failed(kk("export", "--images-dir", store, *args), layer)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((output.name, "."))]
        if format == "oci-layout":  # a directory: no name points at the damaged image
            assert not (output / "index.json").exists()
        else:
            assert leftovers == [], leftovers


def test_what_is_not_an_archive_is_one_line(kk, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    failed(
        kk("import", "--images-dir", tmp_path / "s", tmp_path / "notes.txt"), "not a readable tar"
    )
    failed(kk("import", "--images-dir", tmp_path / "s", tmp_path / "none.tar"), "does not exist")
    assert not (tmp_path / "s").exists()


@pytest.mark.docker
def test_docker_load_reads_the_docker_archive(kk, tmp_path, namespace):
    image = images.loadable(namespace)
    store = write_store(tmp_path / "store", {f"kkimage.test/{namespace}/hello:v1": image})
    archive = tmp_path / "hello.tar"
    ok(kk("export", "--images-dir", store, "--format", "docker-archive", "--output", archive))
    name = f"kkimage.test/{namespace}/hello:v1"
    loaded = subprocess.run(["docker", "load", "-i", str(archive)], capture_output=True, text=True)
    try:
        assert loaded.returncode == 0, loaded.stderr
        inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", name]
        image_id = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout
        assert image_id.strip() == json.loads(image.root.data)["config"]["digest"]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", name], capture_output=True)


CONTAINERD = "/run/docker/containerd/containerd.sock"  # the one dockerd starts


@pytest.mark.docker
@pytest.mark.skipif(not shutil.which("ctr"), reason="needs containerd's ctr (docker.io has it)")
def test_ctr_import_finds_the_images_name_in_the_oci_archive(kk, tmp_path, namespace):
    image = images.loadable(namespace)
    name = f"kkimage.test/{namespace}/hello:v1"
    store = write_store(tmp_path / "store", {name: image})
    archive = tmp_path / "hello.tar"
    ok(kk("export", "--images-dir", store, "--format", "oci-archive", "--output", archive))
    ctr = ["ctr", "--address", CONTAINERD, "-n", f"kkimage-{namespace}", "images"]
    try:
        subprocess.run([*ctr, "import", str(archive)], capture_output=True, check=True, timeout=60)
        listed = subprocess.run([*ctr, "ls", "-q"], capture_output=True, text=True, check=True)
        assert listed.stdout.split() == [name]
    finally:
        subprocess.run([*ctr, "rm", name], capture_output=True)


def test_a_docker_save_archive_without_index_is_read_through_manifest_json(kk, tmp_path):
    """What `docker save` of Docker 20.10 writes: manifest.json, <id>.json, <id>/layer.tar."""
    import gzip
    import io

    image = images.loadable("saved")
    manifest = json.loads(image.root.data)
    config = image.blobs[manifest["config"]["digest"]].data
    layer = gzip.decompress(image.blobs[manifest["layers"][0]["digest"]].data)
    entry = {"Config": "abc.json", "RepoTags": ["quay.io/org/saved:v1"], "Layers": ["l1/layer.tar"]}
    archive = tmp_path / "saved.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (
            ("manifest.json", json.dumps([entry]).encode()),
            ("abc.json", config),
            ("l1/layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    store = tmp_path / "store"
    ok(kk("import", "--images-dir", store, archive))
    ok(kk("verify", store))
    root = json.loads((store / "quay.io/org/saved/manifests/v1").read_bytes())
    assert root["config"]["digest"] == manifest["config"]["digest"]
    assert root["layers"][0]["digest"] == images.sha256(layer)
    assert root["layers"][0]["mediaType"].endswith("diff.tar")  # not gzip: as it was saved


def test_an_export_that_keeps_going_past_a_damaged_image_still_writes_no_archive(kk, tmp_path):
    """Whole or nothing (R-ARCH-3) holds with --keep-going: the good image is reported as
    not written, not as exported."""
    images = {"quay.io/org/bad:v1": CORPUS["single-oci"], "quay.io/org/good:v1": CORPUS["multi"]}
    store = write_store(tmp_path / "store", images)
    layer = json.loads(CORPUS["single-oci"].root.data)["layers"][0]["digest"]
    corrupt_blob(store, layer)
    output = tmp_path / "out.tar"
    args = ["--format", "oci-archive", "--output", output, "--keep-going", "--json"]
    result = kk("export", "--images-dir", store, *args)
    assert result.returncode == 1
    statuses = {
        i["source"].split(":", 1)[1]: i["status"] for i in json.loads(result.stdout)["images"]
    }
    assert statuses == {"quay.io/org/bad:v1": "failed", "quay.io/org/good:v1": "cancelled"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("out", "."))] == []
