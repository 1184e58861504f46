"""How a run ends when some images fail: every known failure named, --keep-going and the
task's keep_going, the --json summary of a failed run, one insecure notice, and stopping on
SIGINT and SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import Fault, FaultProxy
from tests.helpers import failed, ok, pull_task

from .test_robustness import no_partial_files


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("kkimage: error:")]


def three(plain) -> list[str]:
    """A missing image, a good one, another missing one (the issue's first run)."""
    return [plain.ref("missing-one"), plain.ref("multi"), plain.ref("missing-two")]


def tag_file(store, plain, name: str):
    return store / plain.host / "seed" / name / "manifests" / "v1"


def test_keep_going_pulls_what_it_can_and_names_every_failure(kk, plain, store):
    result = kk.run(pull_task(store, three(plain), [plain.auth()]), "--keep-going")
    assert result.returncode == 1, result.stderr
    lines = errors(result)
    assert len(lines) == 2 and "Traceback" not in result.stderr
    assert "missing-one:v1" in lines[0] and "missing-two:v1" in lines[1]
    assert all("404" in line for line in lines)
    assert tag_file(store, plain, "multi").is_file()
    assert not tag_file(store, plain, "missing-one").exists()
    ok(kk("verify", store))


def test_keep_going_json_lists_every_image_with_its_status(kk, plain, store):
    result = kk.run(pull_task(store, three(plain), [plain.auth()]), "--keep-going", "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["error"] is None
    statuses = [(image["source"].split("/")[-1], image["status"]) for image in summary["images"]]
    assert statuses == [
        ("missing-one:v1", "failed"),
        ("multi:v1", "ok"),
        ("missing-two:v1", "failed"),
    ]
    assert "404" in summary["images"][0]["error"] and summary["images"][1]["error"] is None


def test_without_keep_going_the_first_failure_stops_the_run_and_is_named(kk, plain, store):
    images_ = [plain.ref("missing-one"), *(plain.ref(n) for n in ("multi", "shared-a"))]
    result = kk.run(pull_task(store, images_, [plain.auth()]), "--json", "--jobs", "1")
    assert result.returncode == 1
    summary = json.loads(result.stdout)  # printed although the run failed
    statuses = [image["status"] for image in summary["images"]]
    assert statuses[0] == "failed" and set(statuses[1:]) <= {"ok", "cancelled"}, statuses
    assert "cancelled" in statuses  # one job: nothing else had started when it failed
    assert "missing-one:v1" in errors(result)[0]
    assert "not finished" in result.stderr and "--keep-going" in result.stderr
    for image, status in zip(summary["images"], statuses, strict=True):
        name = image["source"].split("/")[-1].split(":")[0]
        assert tag_file(store, plain, name).exists() == (status == "ok")
    assert no_partial_files(store)


def test_a_task_that_keeps_going_does_not_stop_the_next_task(kk, plain, store):
    first = {**pull_task(store, [plain.ref("missing-one")], [plain.auth()]), "keep_going": True}
    second = pull_task(store, [plain.ref("single-oci")], [plain.auth()])
    result = kk.run([first, second])
    assert result.returncode == 1 and len(errors(result)) == 1
    assert tag_file(store, plain, "single-oci").is_file()
    # and without it the first task's failure stops the run before the second
    other = store.parent / "other"
    stop = pull_task(other, [plain.ref("missing-one")], [plain.auth()])
    failed(kk.run([stop, pull_task(other, [plain.ref("single-oci")], [plain.auth()])]), "404")
    assert not tag_file(other, plain, "single-oci").exists()


def test_bad_keep_going_value(kk, plain, store):
    task = {**pull_task(store, [plain.ref("multi")], [plain.auth()]), "keep_going": "sometimes"}
    failed(kk.run(task), "keep_going", "true or false")
    assert not store.exists()


def test_json_summary_of_bad_input(kk, store):
    result = kk.run(pull_task(store, ["not a reference"]), "--json")
    assert result.returncode == 2
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["images"] == []
    assert "manifests" in summary["error"]
    assert len(errors(result)) == 1


def test_insecure_is_said_once_per_registry_and_no_library_warning(kk, tls, store):
    names = ("multi", "single-oci", "shared-a", "shared-b", "dockerlist")
    entry = {"repo": tls.host, "insecure": True}
    task = pull_task(store, [tls.ref(n) for n in names], [entry])
    result = ok(kk.run([task, {**task, "name": "again"}]))
    assert result.stderr.splitlines() == [
        f"kkimage: warning: {tls.host}: TLS certificates are not verified (insecure)"
    ]


# ---- stopping -----------------------------------------------------------------------------


@pytest.fixture
def slow(plain, namespace):
    """A proxy in front of `plain` sending one image's 2 MiB layer at 32 KiB/s per connection:
    a transfer that is mid-blob, blocked in the network, when the signal comes."""
    image = images.single(f"{namespace}-slow", seed=namespace, layer_sizes=(2 << 20,))
    plain.client.push(f"{namespace}/slow", image)
    layer = json.loads(image.root.data)["layers"][0]
    with FaultProxy(plain.running.url) as proxy:
        proxy.add(Fault("throttle", path=layer["digest"], rate=32 << 10, times=None))
        yield proxy, layer, f"{proxy.host}/{namespace}/slow:v1"


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_at_once_leaving_no_partial_file(kk, slow, store, sent, status):
    proxy, layer, name = slow
    task = pull_task(store, [name], [{"repo": proxy.host, "plain_http": True}])
    command = [sys.executable, "-m", "kkimage", "run", str(kk.task_file(task))]
    # Tests run as a background job (`&`) inherit SIGINT ignored, as POSIX shells start them,
    # and the command then rightly ignores it too: it starts with the default disposition.
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 30
    started = False
    while time.monotonic() < deadline and not started:
        partial = list((store / "blobs").glob(".*"))
        started = bool(partial) and proxy.traffic.sent(layer["digest"]) > 0
        time.sleep(0.05)
    assert started, "the slow blob never started"
    signalled = time.monotonic()
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=10)
    took = time.monotonic() - signalled
    assert process.returncode == status, stderr
    assert took < 2.5, f"stopped {took:.1f} s after the signal"
    assert stderr.splitlines() == [
        f"kkimage: stopped by {signal.Signals(sent).name}; no partial file is left"
    ]
    assert no_partial_files(store)
    assert not (store / "blobs" / layer["digest"]).exists()
