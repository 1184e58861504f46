"""KubeKey >= v4.0.4's `manifests`/`src`/`dest` format ("G2") against real registries:
KubeKey's own builtin tasks as docs/usage.md quotes them, the four directions, layout L2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from kkimage_fixtures.stores import write_store
from tests.helpers import failed, ok

from .conftest import CORPUS
from .test_push import skopeo_raw

USAGE = Path(__file__).resolve().parents[2] / "docs" / "usage.md"
DOCS_HOST = "127.0.0.1:33163"


def quoted(name: str) -> str:
    """The YAML block of docs/usage.md whose first line is `# <name>`."""
    for block in re.findall(r"```yaml\n(.*?)```", USAGE.read_text(), re.DOTALL):
        if block.startswith(f"# {name}"):
            return block
    raise AssertionError(f"docs/usage.md quotes no {name}")


def g2(manifests, src: str, dest: str, **extra) -> dict:
    image = {"src": src, "dest": dest, **extra}
    if manifests is not None:
        image["manifests"] = manifests
    return {"name": "g2", "image": image}


def layout(store: Path, host: str, repository: str) -> dict:
    return json.loads((store / host / repository / "manifests" / "layout").read_text())


def test_kubekeys_builtin_download_and_push_tasks_run_as_written(kk, plain, tmp_path, namespace):
    variables = yaml.safe_load(quoted("kubekey-vars.yaml").replace(DOCS_HOST, plain.host))
    variables["binary_dir"] = str(tmp_path / "kk")
    variables["download"]["images"]["manifests"] = [plain.ref("multi"), plain.ref("single-oci")]
    variables["image_registry"]["auth"]["registry"] = f"{plain.host}/{namespace}"
    (tmp_path / "vars.yaml").write_text(yaml.safe_dump(variables))
    for task in ("kubekey-download.yaml", "kubekey-push.yaml"):
        (tmp_path / task).write_text(quoted(task))
        ok(kk("run", tmp_path / task, "--vars", tmp_path / "vars.yaml"))
    store = tmp_path / "kk" / "images"
    multi = json.loads((store / plain.host / "seed/multi/manifests" / "layout").read_text())
    kept = json.loads((store / plain.host / "seed/multi/manifests" / multi["v1"]).read_bytes())
    assert [m["platform"]["architecture"] for m in kept["manifests"]] == ["amd64", "arm64"]
    assert layout(store, plain.host, "seed/single-oci") == {"v1": CORPUS["single-oci"].digest}
    assert not (store / plain.host / "seed/multi/manifests/v1").exists()  # L2: no tag files
    pushed = skopeo_raw(plain, f"{namespace}/seed/multi:v1")
    assert pushed == (store / plain.host / "seed/multi/manifests" / multi["v1"]).read_bytes()


def test_every_direction_keeps_every_digest(kk, plain, tmp_path, namespace):
    names = [plain.ref("dockerlist"), plain.ref("single-docker")]
    first, second = tmp_path / "first", tmp_path / "second"
    ok(
        kk.run(
            g2(
                names,
                "oci://" + "{{ .module.image.reference.registry }}/"
                "{{ .module.image.reference.repository }}:{{ .module.image.reference.reference }}",
                f"local://{first}",
                auths=[plain.auth()],
            )
        )
    )
    ok(kk.run(g2(names, f"local://{first}", f"local://{second}")))
    dest = f"oci://{plain.host}/{namespace}/" + "{{ .module.image.reference.repository }}"
    ok(kk.run(g2(names, f"local://{second}", dest, auths=[plain.auth()])))
    mirrored = f"oci://{plain.host}/{namespace}-m/" + "{{ .module.image.reference.repository }}"
    ok(
        kk.run(
            g2(
                names,
                f"oci://{plain.host}/" + "{{ .module.image.reference.repository }}",
                mirrored,
                auths=[plain.auth()],
            )
        )
    )
    for name in ("dockerlist", "single-docker"):
        assert layout(second, plain.host, f"seed/{name}") == {"v1": CORPUS[name].digest}
        for repository in (namespace, f"{namespace}-m"):
            assert skopeo_raw(plain, f"{repository}/seed/{name}:v1") == CORPUS[name].root.data


def test_a_local_src_without_manifests_is_every_image_pattern_selecting(kk, tmp_path):
    source = write_store(
        tmp_path / "l1",
        {"quay.io/org/app:v1": CORPUS["single-oci"], "quay.io/org/db:v2": CORPUS["multi"]},
    )
    target = tmp_path / "l2"
    ok(kk.run(g2(None, f"local://{source}", f"local://{target}", pattern="org/ap+")))
    assert layout(target, "quay.io", "org/app") == {"v1": CORPUS["single-oci"].digest}
    assert not (target / "quay.io/org/db").exists()
    result = kk.run(g2(None, f"local://{source}", f"local://{target}", pattern="nothing"))
    assert ok(result).returncode == 0 and "skip" in result.stderr


def test_a_digest_pinned_manifest_works_with_the_builtin_templates(kk, plain, tmp_path):
    image = CORPUS["multi"]
    src = (
        "oci://{{ .module.image.reference.registry }}/{{ .module.image.reference.repository }}"
        ":{{ .module.image.reference.reference }}"
    )
    pinned = f"{plain.host}/seed/multi@{image.digest}"
    ok(kk.run(g2([pinned], src, f"local://{tmp_path / 's'}", auths=[plain.auth()])))
    stored = tmp_path / "s" / plain.host / "seed/multi/manifests" / image.digest
    assert stored.read_bytes() == image.root.data


def test_bad_g2_input_is_one_line_naming_the_argument(kk, plain, tmp_path):
    store = str(tmp_path / "s")
    failed(kk.run(g2([plain.ref("multi")], "/data/images", f"local://{store}")), "src", "scheme")
    failed(kk.run(g2(None, f"oci://{plain.host}/x", f"local://{store}")), "manifests", "oci://")
    failed(kk.run(g2('["unclosed', f"oci://{plain.host}/x", f"local://{store}")), "manifests")
    failed(kk.run(g2([plain.ref("multi")], "oci://x/{{ .nope }}", f"local://{store}")), ".nope")
    mixed = {"name": "m", "image": {"src": "local://a", "pull": {"manifests": ["a/b:c"]}}}
    failed(kk.run(mixed), "mixes the formats")
    failed(
        kk.run(g2([plain.ref("multi")], f"oci://{plain.host}/x", "local://s", policy="lax")),
        "policy",
    )
    assert not (tmp_path / "s").exists()
