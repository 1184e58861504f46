"""The command line: bad input is one clear line and writes nothing; ls, verify, --json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.stores import corrupt_blob, write_store
from tests.helpers import failed, ok

CORPUS = images.corpus()


def pull(store, **args):
    return {"name": "bad", "image": {"pull": {"images_dir": str(store), **args}}}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({}, "manifests: at least one image reference is required"),
        ({"manifests": []}, "manifests: at least one image reference is required"),
        ({"manifests": ["quay.io/a/b"]}, "no tag or digest"),
        ({"manifests": ["quay.io/../../etc/passwd:1"]}, "'..'"),
        ({"manifests": ["quay.io/a/B:1"]}, "invalid repository"),
        ({"manifests": "quay.io/a/b:1", "platform": "linux/amd64/v8/extra"}, "invalid platform"),
        ({"manifests": ["quay.io/a/b:1"], "platform": {"os": "linux"}}, "expected a list"),
        ({"manifests": ["quay.io/a/b:1"], "auths": [{"repo": ["x"]}]}, "expected a string"),
        ({"manifests": ["quay.io/a/b:1"], "policy": "maybe"}, "expected strict or warn"),
        ({"manifests": ["127.0.0.1:1/a/b:1"]}, "cannot reach 127.0.0.1:1"),
    ],
)
def test_bad_pull_arguments(kk, store, args, fragment):
    failed(kk.run(pull(store, **args)), fragment)
    assert not store.exists()


@pytest.mark.parametrize(
    ("push", "fragment"),
    [
        ({}, "dest: a destination is required"),
        ({"dest": "x/y", "src_pattern": "(unclosed"}, "invalid regular expression"),
        ({"dest": "{{ .module.image.src.reference.nope }}"}, "undefined variable"),
        ({"dest": "{{ if }}"}, "template"),
        (
            {"dest": 'hub/{{ .module.image.src.reference.repository }}:{{ "bad tag" }}'},
            "invalid tag",
        ),
    ],
)
def test_bad_push_arguments(kk, tmp_path, push, fragment):
    store = write_store(tmp_path / "s", {"quay.io/org/app:v1": CORPUS["single-oci"]})
    failed(kk.run({"image": {"push": {"images_dir": str(store), **push}}}), fragment)


def test_unknown_keys_warn_but_run(kk, tmp_path):
    store = write_store(tmp_path / "s", {"quay.io/org/app:v1": CORPUS["single-oci"]})
    task = {
        "image": {
            "copy": {
                "from": {"path": str(store)},
                "to": {"path": str(tmp_path / "t")},
                "colour": "blue",
            }
        }
    }
    result = ok(kk.run(task))
    assert "warning: task 'task 1': copy: unknown key 'colour' ignored" in result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("- image: {pull: [", "not valid YAML (line"),
        ("- name: x\n  image: a: b\n", "not valid YAML (line 2, column 11): mapping values"),
        ("", "the task file is empty"),
        ("- 42", "expected a mapping"),
        ("- name: x\n  shell: ls", "no 'image' module"),
    ],
)
def test_bad_task_files(kk, tmp_path, content, fragment):
    path = tmp_path / "task.yaml"
    path.write_text(content)
    failed(kk("run", path), fragment)


def test_missing_task_file_and_bad_flags(kk, tmp_path):
    failed(kk("run", tmp_path / "nope.yaml"), "does not exist")
    failed(kk("run", tmp_path / "nope.yaml", "--jobs", "x"), "invalid int value")
    failed(kk("frobnicate"), "invalid choice")
    path = tmp_path / "t.yaml"
    path.write_text("- image: {pull: {images_dir: /tmp/x, manifests: ['a/b:1']}}")
    failed(kk("run", path, "--var", "novalue"), "expected KEY=VALUE")
    failed(kk("run", path, "--jobs", "0"), "at least 1")


def test_ls_and_verify(kk, tmp_path):
    store = write_store(
        tmp_path / "s",
        {
            "registry-1.docker.io/library/multi:v1": CORPUS["multi"],
            "quay.io/org/single:v1": CORPUS["single-docker"],
        },
    )
    listed = json.loads(ok(kk("ls", store, "--json")).stdout)
    assert listed == [
        {
            "reference": "docker.io/library/multi:v1",
            "digest": CORPUS["multi"].digest,
            "media_type": images.OCI_INDEX,
            "platforms": [*CORPUS["multi"].platforms, "unknown/unknown"],
        },
        {
            "reference": "quay.io/org/single:v1",
            "digest": CORPUS["single-docker"].digest,
            "media_type": images.DOCKER_MANIFEST,
            "platforms": ["linux/arm64/v8"],
        },
    ]
    ok(kk("verify", store))
    blob = next(iter(CORPUS["single-docker"].blobs.values()))
    corrupt_blob(store, blob)
    (store / "blobs" / ".kkimage-partial-1-x").write_bytes(b"x")
    child = next(iter(CORPUS["multi"].manifests))
    (store / "registry-1.docker.io/library/multi/manifests" / child).unlink()
    result = kk("verify", store, "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert any(blob.digest in p and "hashes to" in p for p in problems)
    assert any(".kkimage-partial-1-x" in p for p in problems)
    assert any(child in p for p in problems)


def test_ls_of_a_missing_store(kk, tmp_path):
    failed(kk("ls", tmp_path / "nope"), "does not exist")


def test_verify_reports_damaged_roots(kk, tmp_path):
    store = write_store(tmp_path / "s", {"quay.io/org/a:v1": CORPUS["single-oci"]})
    (store / "quay.io/org/a/manifests/v1").write_bytes(CORPUS["single-oci"].root.data[:100])
    result = kk("verify", store)
    assert result.returncode == 1
    assert "quay.io/org/a/manifests/v1: not JSON" in result.stdout


# A C exit handler that aborts, as OpenSSL's cleanup did once when it raced a worker thread
# that Python had joined but whose pthread was still in OpenSSL's thread-exit handlers.
ABORTING_EXIT_HANDLER = """
import atexit, ctypes, sys
libc = ctypes.CDLL(None)
libc.__cxa_atexit(ctypes.cast(libc.abort, ctypes.c_void_p), None, None)
atexit.register(print, "python exit handlers ran")
from kkimage.cli import entry_point
sys.argv = ["kkimage", *sys.argv[1:]]
entry_point()
"""


def test_the_command_ends_without_the_c_libraries_exit_handlers(tmp_path):
    """Python's exit handlers run (the test registries' clean-up), the output is flushed into
    a pipe, and exit(3)'s handlers do not run: the aborting one above never fires."""
    store = write_store(tmp_path / "s", {"quay.io/org/single:v1": CORPUS["single-docker"]})
    command = [sys.executable, "-c", ABORTING_EXIT_HANDLER, "ls", str(store)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("quay.io/org/single:v1")
    assert result.stdout.splitlines()[-1] == "python exit handlers ran"
