import json

import pytest

from kkimage.errors import DigestMismatch, ManifestError
from kkimage.manifest import DOCKER_LIST, OCI_INDEX, Manifest, check_digest, sha256_digest

D = ["sha256:" + c * 64 for c in "abc"]


def index(media_type=OCI_INDEX, **extra):
    content = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": "m",
                "digest": D[0],
                "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": "m",
                "digest": D[1],
                "size": 2,
                "platform": {"os": "linux", "architecture": "arm64"},
                "annotations": {"k": "v"},
            },
        ],
        **extra,
    }
    return Manifest.parse(json.dumps(content, indent=3).encode())


def test_filtered_index_keeps_media_type_fields_and_descriptors_and_is_deterministic():
    original = index(DOCKER_LIST, annotations={"top": "level"})
    kept = [original.children[1]]
    first, second = original.filtered(kept), original.filtered(kept)
    assert first.raw == second.raw
    content = json.loads(first.raw)
    assert content["mediaType"] == DOCKER_LIST
    assert content["annotations"] == {"top": "level"}
    assert content["manifests"] == [original.children[1]]
    assert "org.opencontainers.image.created" not in first.raw.decode()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        json.dumps(
            {"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"}
        ).encode(),
        json.dumps(
            {"mediaType": OCI_INDEX, "manifests": [{"digest": "sha256:../../etc", "size": 1}]}
        ).encode(),
        json.dumps({"mediaType": OCI_INDEX, "manifests": [{"digest": D[0]}]}).encode(),
        json.dumps({"mediaType": OCI_INDEX, "manifests": {}}).encode(),
    ],
)
def test_invalid_manifests_are_refused(content):
    with pytest.raises(ManifestError):
        Manifest.parse(content)


def test_blobs_are_unique_config_first():
    content = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "c", "digest": D[0], "size": 1},
        "layers": [
            {"mediaType": "l", "digest": D[1], "size": 1},
            {"mediaType": "l", "digest": D[1], "size": 1},
        ],
    }
    manifest = Manifest.parse(json.dumps(content).encode())
    assert [b["digest"] for b in manifest.blobs] == [D[0], D[1]]


def test_check_digest():
    check_digest("x", b"abc", sha256_digest(b"abc"))
    with pytest.raises(DigestMismatch):
        check_digest("x", b"abd", sha256_digest(b"abc"))
