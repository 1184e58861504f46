import errno
import io
import json
import os

import pytest

import kkimage.store
import kkimage.uncached
from kkimage.blobs import VerifiedReader
from kkimage.errors import DigestMismatch, StoreError
from kkimage.manifest import Manifest
from kkimage.reference import parse_reference
from kkimage.store import Store
from kkimage_fixtures import images
from kkimage_fixtures.stores import write_store

MULTI = images.multi_arch("multi", platforms=(("linux", "amd64", None), ("linux", "arm64", "v8")))
SINGLE = images.single("single")


def reader(data: bytes, digest: str, size: int) -> VerifiedReader:
    return VerifiedReader(io.BytesIO(data), digest, size, "blob")


def test_put_blob_renames_only_verified_content(tmp_path):
    store = Store(tmp_path)
    blob = images.Content("x", b"hello")
    store.put_blob(reader(b"hello", blob.digest, blob.size))
    store.name_blobs()
    assert store.blob_path(blob.digest).read_bytes() == b"hello"
    bad = images.Content("x", b"other")
    with pytest.raises(DigestMismatch):
        store.put_blob(reader(b"OTHER", bad.digest, bad.size))
    store.name_blobs()
    assert sorted(os.listdir(tmp_path / "blobs")) == [blob.digest]  # no temp file left behind


def test_small_blobs_are_named_together_once_on_disk(tmp_path, monkeypatch):
    """One sync for the group, before any of them has its name; nothing named before."""
    store = Store(tmp_path)
    blobs = [images.Content("x", data) for data in (b"one", b"two")]
    synced = []

    def sync(directory, files):
        assert not any(store.blob_path(b.digest).exists() for b in blobs)
        synced.append(sorted(f.read_bytes() for f in files))

    monkeypatch.setattr(kkimage.store, "_sync_files", sync)
    for blob in blobs:
        store.put_blob(reader(blob.data, blob.digest, blob.size))
    assert not any(store.blob_path(b.digest).exists() for b in blobs)
    store.name_blobs()
    store.name_blobs()  # nothing left to name: no second sync
    assert synced == [[b"one", b"two"]]
    assert sorted(os.listdir(tmp_path / "blobs")) == sorted(b.digest for b in blobs)


def test_a_blob_of_the_small_size_or_more_is_synced_and_named_on_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(kkimage.store, "SMALL_BLOB", 5)
    monkeypatch.setattr(kkimage.store, "_sync_files", lambda *_: pytest.fail("grouped"))
    fsynced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: fsynced.append(fd) or real_fsync(fd))
    store = Store(tmp_path)
    blob = images.Content("x", b"hello")
    store.put_blob(reader(b"hello", blob.digest, blob.size))
    assert store.blob_path(blob.digest).read_bytes() == b"hello" and len(fsynced) == 1


def test_a_manifest_is_written_only_after_the_blobs_written_before_it_are_named(tmp_path):
    store = Store(tmp_path)
    config = images.Content("x", b"{}")
    store.put_blob(reader(b"{}", config.digest, config.size))
    manifest = Manifest.parse(SINGLE.root.data)
    store.write_manifest(parse_reference("example.com/app:v1"), "v1", manifest)
    assert store.blob_path(config.digest).read_bytes() == b"{}"


def test_without_syncfs_each_small_blob_is_fsynced_before_its_name(tmp_path, monkeypatch):
    monkeypatch.setattr(kkimage.store, "_syncfs", lambda: None)
    store = Store(tmp_path)
    blob = images.Content("x", b"hello")
    fsynced = []
    real_fsync = os.fsync

    def fsync(fd):
        assert not store.blob_path(blob.digest).exists()
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store.put_blob(reader(b"hello", blob.digest, blob.size))
    store.name_blobs()
    assert len(fsynced) == 1 and ".kkimage-partial-" in fsynced[0]
    assert store.blob_path(blob.digest).read_bytes() == b"hello"


def test_a_group_that_cannot_be_synced_is_not_kept(tmp_path, monkeypatch):
    def failing(directory, files):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(kkimage.store, "_sync_files", failing)
    store = Store(tmp_path)
    blob = images.Content("x", b"hello")
    store.put_blob(reader(b"hello", blob.digest, blob.size))
    with pytest.raises(StoreError, match="Input/output error"):
        store.name_blobs()
    assert os.listdir(tmp_path / "blobs") == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"hell", "ended after 4 of the 5 bytes"),
        (b"hello!", "more than the 5"),
        (b"hellx", "sha256:"),
    ],
)
def test_a_blob_of_another_size_is_refused_and_never_read_past_its_size(tmp_path, data, problem):
    store = Store(tmp_path)
    blob = images.Content("x", b"hello")
    source = io.BytesIO(data + b"x" * (10 << 20) if len(data) > 5 else data)
    with pytest.raises(DigestMismatch, match=problem):
        store.put_blob(VerifiedReader(source, blob.digest, 5, "blob"))
    assert os.listdir(tmp_path / "blobs") == []
    assert source.tell() <= 6  # a source sending more is not read to its end


def test_an_empty_blob_is_stored_and_a_source_with_bytes_for_it_refused(tmp_path):
    store = Store(tmp_path)
    empty = images.Content("x", b"")
    with pytest.raises(DigestMismatch, match="more than the 0"):
        store.put_blob(reader(b"x", empty.digest, 0))
    store.put_blob(reader(b"", empty.digest, 0))
    store.name_blobs()
    assert store.blob_path(empty.digest).read_bytes() == b""
    assert os.listdir(tmp_path / "blobs") == [empty.digest]


def test_prepare_sweeps_only_dead_writers_temp_files(tmp_path):
    store = Store(tmp_path)
    store.prepare()
    dead = tmp_path / "blobs" / ".kkimage-partial-999999999-abcd"
    alive = tmp_path / "blobs" / f".kkimage-partial-{os.getpid()}-abcd"
    dead.write_bytes(b"x")
    alive.write_bytes(b"x")
    Store(tmp_path).prepare()  # the next writer
    assert not dead.exists() and alive.exists()


@pytest.mark.parametrize("name", ["..", "a/b", "", ".hidden", "layout"])
def test_manifest_names_cannot_leave_the_store(tmp_path, name):
    with pytest.raises(StoreError):
        Store(tmp_path).manifest_path(parse_reference("quay.io/a:1"), name)


def test_blob_names_must_be_digests(tmp_path):
    with pytest.raises(StoreError):
        Store(tmp_path).blob_path("sha256:../../../etc/passwd")


@pytest.mark.parametrize("layout", ["L1", "L2"])
def test_reads_kubekey_stores(tmp_path, layout):
    write_store(
        tmp_path,
        {
            "registry-1.docker.io/library/multi:v1": MULTI,
            "quay.io/org/single:v2": SINGLE,
        },
        layout,
    )
    found = {str(i.reference): i.manifest.digest for i in Store(tmp_path).images()}
    assert found == {
        "docker.io/library/multi:v1": MULTI.digest,
        "quay.io/org/single:v2": SINGLE.digest,
    }
    store = Store(tmp_path)
    assert store.resolve(parse_reference("multi:v1")).raw == MULTI.root.data
    assert (
        store.resolve(parse_reference(f"docker.io/library/multi@{MULTI.digest}")).raw
        == MULTI.root.data
    )


def test_digest_roots_are_images_but_children_are_not(tmp_path):
    store = Store(tmp_path)
    ref = parse_reference(f"quay.io/org/multi@{MULTI.digest}")
    for child in MULTI.manifests.values():
        store.write_manifest(ref, child.digest, Manifest.parse(child.data))
    store.write_manifest(ref, MULTI.digest, Manifest.parse(MULTI.root.data))
    assert [str(i.reference) for i in store.images()] == [str(ref)]


def test_tag_at_digest_must_match(tmp_path):
    write_store(tmp_path, {"quay.io/org/single:v1": SINGLE})
    other = "sha256:" + "0" * 64
    with pytest.raises(StoreError, match="not sha256:0000"):
        Store(tmp_path).resolve(parse_reference(f"quay.io/org/single:v1@{other}"))


def test_missing_image_and_store_errors_name_them(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope").images()
    with pytest.raises(StoreError, match=r"quay\.io/org/x:v9 is not in store"):
        Store(tmp_path).resolve(parse_reference("quay.io/org/x:v9"))


def test_a_manifest_file_whose_bytes_do_not_match_its_digest_name_is_refused(tmp_path):
    write_store(tmp_path, {"quay.io/org/multi:v1": MULTI})
    child = next(iter(MULTI.manifests))
    path = tmp_path / "quay.io/org/multi/manifests" / child
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    with pytest.raises(DigestMismatch):
        Store(tmp_path).read_manifest(parse_reference("quay.io/org/multi:v1"), child)


def test_non_manifest_files_are_not_images(tmp_path):
    write_store(tmp_path, {"quay.io/org/single:v1": SINGLE})
    (tmp_path / "quay.io/org/single/manifests/notes").write_text("hello")
    (tmp_path / "quay.io/org/single/manifests/other.json").write_text(json.dumps({"a": 1}))
    assert [str(i.reference) for i in Store(tmp_path).images()] == ["quay.io/org/single:v1"]


def test_a_full_disk_is_a_store_error_and_leaves_nothing(tmp_path, monkeypatch):
    """A failure no registry can produce: the disk fills up in the middle of a blob."""
    store = Store(tmp_path)
    blob = images.Content("x", os.urandom(3 << 20))

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kkimage.uncached.os, "write", full)
    with pytest.raises(StoreError, match="No space left on device"):
        store.put_blob(reader(blob.data, blob.digest, blob.size))
    monkeypatch.undo()
    assert os.listdir(tmp_path / "blobs") == []


def test_docker_hub_content_under_several_names_is_one_repository(tmp_path):
    """A store KubeKey wrote (registry-1.docker.io/) that kkimage then pulled into
    (docker.io/): each image is found, whichever directory holds which file."""
    write_store(tmp_path, {"registry-1.docker.io/library/app:v1": MULTI})
    write_store(tmp_path, {"docker.io/library/app:v2": SINGLE})
    store = Store(tmp_path)
    assert [str(i.reference) for i in store.images()] == [
        "docker.io/library/app:v1",
        "docker.io/library/app:v2",
    ]
    child = next(iter(MULTI.manifests))
    assert store.has_manifest(parse_reference("docker.io/library/app:v1"), child)
    assert store.resolve(parse_reference("app:v1")).raw == MULTI.root.data


def test_damaged_roots_are_reported_not_hidden(tmp_path):
    write_store(tmp_path, {"quay.io/org/a:v1": SINGLE, "quay.io/org/b:v1": SINGLE})
    (tmp_path / "quay.io/org/a/manifests/v1").write_bytes(SINGLE.root.data[:100])
    problems: list[str] = []
    found = [str(i.reference) for i in Store(tmp_path).images(problems)]
    assert found == ["quay.io/org/b:v1"]
    assert problems == ["quay.io/org/a/manifests/v1: not JSON, so not a manifest"]


def test_oci_manifests_without_media_type_are_images(tmp_path):
    content = json.loads(SINGLE.root.data)
    del content["mediaType"]
    image = images.Image(
        "bare",
        "v1",
        images.Content(images.OCI_MANIFEST, images.encode(content)),
        blobs=SINGLE.blobs,
    )
    write_store(tmp_path, {"quay.io/org/bare:v1": image})
    assert [str(i.reference) for i in Store(tmp_path).images()] == ["quay.io/org/bare:v1"]


def test_l2_names_tags_in_the_layout_file_as_kubekey_writes_it(tmp_path):
    store = Store(tmp_path, layout="L2")
    ref = parse_reference("docker.io/kubesphere/ks-apiserver:v4.1.3")
    for child in MULTI.manifests.values():
        store.write_manifest(ref, child.digest, Manifest.parse(child.data))
    root = Manifest.parse(MULTI.root.data)
    store.write_manifest(ref, "v4.1.3", root)
    store.write_manifest(ref.with_tag("v4"), "v4", root)
    manifests = tmp_path / "registry-1.docker.io/kubesphere/ks-apiserver/manifests"
    d = root.digest
    expected = f'{{\n  "v4": "{d}",\n  "v4.1.3": "{d}"\n}}'  # as Go's MarshalIndent
    assert (manifests / "layout").read_text() == expected  # sorted, indented, no newline
    assert sorted(p.name for p in manifests.iterdir()) == sorted(
        ["layout", root.digest, *MULTI.manifests]
    )
    listed = sorted(str(i.reference) for i in Store(tmp_path).images())
    assert listed == [
        "docker.io/kubesphere/ks-apiserver:v4",
        "docker.io/kubesphere/ks-apiserver:v4.1.3",
    ]


def test_l2_layout_updates_from_two_processes_keep_both_tags(tmp_path):
    """The layout file is read, changed and replaced under a lock other writers respect."""
    import subprocess
    import sys

    code = (
        "import sys; from kkimage.store import Store; from kkimage.manifest import Manifest;"
        "from kkimage.reference import parse_reference; from kkimage_fixtures import images;"
        "root = Manifest.parse(images.single('single').root.data);"
        "store = Store(sys.argv[1], 'L2');"
        "[store.write_manifest(parse_reference(f'quay.io/o/a:{sys.argv[2]}{i}'),"
        " f'{sys.argv[2]}{i}', root) for i in range(40)]"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), prefix]) for prefix in "ab"
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    tags = json.loads((tmp_path / "quay.io/o/a/manifests/layout").read_text())
    assert sorted(tags) == sorted(f"{p}{i}" for p in "ab" for i in range(40))
