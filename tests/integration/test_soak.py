"""A soak: 120 images pulled, then pushed, through a fault proxy faulting requests at random
(seeded): blob bodies cut short, 503s, 429s with Retry-After, slow answers. Nothing may be
lost or damaged, and the retries must stay within the policy (R-XFER-2, R-XFER-3).
`-m "not soak"` leaves it out."""

from __future__ import annotations

import json
import os

import pytest

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import Chaos, FaultProxy
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.seed import client_for
from tests.helpers import ok, pull_task, push_task

from .test_robustness import no_partial_files

pytestmark = pytest.mark.soak

COUNT = 120
SEED = int(os.environ.get("KKIMAGE_SOAK_SEED", "20261201"))


@pytest.fixture(scope="module")
def soak_images(plain):
    """COUNT small images (two layers of their own, one of five shared), pushed to plain."""
    bases = [
        images.single(f"base{k}", seed=f"soak-base-{k}", layer_sizes=(24 << 10,)) for k in range(5)
    ]
    made = []
    for i in range(COUNT):
        base = bases[i % 5]
        shared = [base.blobs[json.loads(base.root.data)["layers"][0]["digest"]]]
        sizes = (8 << 10) + (i * 997) % (40 << 10), (4 << 10) + (i * 7919) % (24 << 10)
        image = images.single(f"soak{i}", seed=f"soak-{i}", layer_sizes=sizes, base=shared)
        plain.client.push(f"soak/app{i}", image)
        made.append((f"soak/app{i}", image))
    return made


def assert_within_policy(proxy: FaultProxy) -> None:
    chaos = proxy.chaos
    assert chaos is not None
    assert chaos.early_retries == 0, "a retry came before the 429's Retry-After had passed"
    assert max(chaos.faulted.values(), default=0) <= chaos.max_faults


def test_soak_pull_then_push_through_random_faults(kk, plain, soak_images, tmp_path):
    store = tmp_path / "store"
    with FaultProxy(plain.running.url) as proxy:
        proxy.chaos = Chaos(SEED)
        names = [f"{proxy.host}/{repository}:v1" for repository, _ in soak_images]
        pulled = ok(
            kk.run(pull_task(store, names, [{"repo": proxy.host, "plain_http": True}]), "--json")
        )
        chaos = proxy.chaos
        assert set(chaos.kinds_used) == {"cut", "503", "429", "slow"}, chaos.kinds_used
        assert_within_policy(proxy)
        # every request was sent once, plus once more per fault that failed it: no retry
        # beyond what a fault caused, and nothing fetched twice
        for key, count in chaos.seen.items():
            assert count <= chaos.faulted[key] + 1, (key, count, chaos.faulted[key])
    summary = json.loads(pulled.stdout)
    digests = {
        image["source"].split("/", 1)[1]: image["destination_digest"] for image in summary["images"]
    }
    assert digests == {f"{repository}:v1": image.root.digest for repository, image in soak_images}
    ok(kk("verify", store))
    assert no_partial_files(store)

    # the store, pushed to a new registry: once without faults (the requests it takes), then
    # with them, to another namespace
    with (
        start_binary("plain", tmp_path / "target") as target,
        FaultProxy(target.url) as proxy,
    ):
        auths = [{"repo": proxy.host, "plain_http": True}]
        ok(
            kk.run(
                push_task(
                    store,
                    f"{proxy.host}/calm/{{{{ .module.image.src.reference.repository }}}}",
                    auths,
                )
            )
        )
        calm = sum(proxy.traffic.requests.values())
        proxy.traffic.requests.clear()
        # An upload attempt is two requests (POST, PUT): two faults each at most keep a
        # blob's attempts within the policy's five.
        proxy.chaos = Chaos(SEED + 1, kinds=("503", "429", "slow"), max_faults=2)
        dest = f"{proxy.host}/soak/{{{{ .module.image.src.reference.repository }}}}"
        ok(kk.run(push_task(store, dest, auths)))
        assert_within_policy(proxy)
        failing = sum(n for kind, n in proxy.chaos.kinds_used.items() if kind != "slow")
        extra = sum(proxy.traffic.requests.values()) - calm
        # a failed upload starts again from its POST: two requests at most per fault
        assert 0 < extra <= 2 * failing, (extra, failing)
        client = client_for(target)
        for repository, image in soak_images:
            pushed = client.get_manifest(f"soak/{repository}", "v1")
            assert pushed.status_code == 200 and pushed.content == image.root.data, repository
            for digest in image.blobs:
                assert client.has_blob(f"soak/{repository}", digest), (repository, digest)
