import pytest

from kkimage.errors import ReferenceError_
from kkimage.reference import parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("kubesphere/ks-apiserver:v4.1.3", "docker.io", "kubesphere/ks-apiserver", "v4.1.3", None),
        ("docker.io/calico/apiserver:v3.28.2", "docker.io", "calico/apiserver", "v3.28.2", None),
        ("registry-1.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", None),
        ("index.docker.io/busybox:1", "docker.io", "library/busybox", "1", None),
        ("localhost/app:v1", "localhost", "app", "v1", None),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", None),
        ("Quay.IO/org/app:v1", "quay.io", "org/app", "v1", None),
        (f"quay.io/org/app@{DIGEST}", "quay.io", "org/app", None, DIGEST),
        (f"quay.io/org/app:v1@{DIGEST}", "quay.io", "org/app", "v1", DIGEST),
        (
            "reg.example:443/a_b/c-d.e__f:V1_x.y-z",
            "reg.example:443",
            "a_b/c-d.e__f",
            "V1_x.y-z",
            None,
        ),
    ],
)
def test_parses_and_normalizes(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_docker_hub_uses_its_api_host():
    assert parse_reference("busybox:1").api_host == "registry-1.docker.io"
    assert parse_reference("quay.io/a/b:1").api_host == "quay.io"


def test_digest_wins_for_fetching_and_tag_names_the_stored_copy():
    ref = parse_reference(f"quay.io/org/app:v1@{DIGEST}")
    assert ref.reference == DIGEST
    assert ref.store_name == "v1"
    assert parse_reference(f"quay.io/org/app@{DIGEST}").store_name == DIGEST


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "non-empty"),
        ("nginx", "no tag or digest"),
        ("Nginx:1", "invalid repository"),
        ("quay.io/../etc:1", "'..'"),
        ("quay.io/a//b:1", "empty"),
        ("quay.io/a/b:-bad", "invalid tag"),
        ("quay.io/a/b@sha256:abc", "malformed digest"),
        ("quay.io/a/b@sha512:" + "a" * 128, "only sha256"),
        ("quay.io/a/b:1 2", "invalid tag"),
        ("quay.io/a/b$:1", "invalid repository"),
        ("quay.io:x/a:1", "invalid registry host"),
    ],
)
def test_refuses_invalid_references_with_the_reason(text, reason):
    with pytest.raises(ReferenceError_) as caught:
        parse_reference(text)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_refuses_non_strings():
    with pytest.raises(ReferenceError_):
        parse_reference(42)


def test_str_round_trips():
    for text in ("quay.io/a/b:1", f"quay.io/a/b@{DIGEST}", f"quay.io/a/b:1@{DIGEST}"):
        assert str(parse_reference(text)) == text


@pytest.mark.parametrize("text", ["nginx:ñ", "nginx:v1١"])
def test_tags_are_ascii(text):
    with pytest.raises(ReferenceError_, match="invalid tag"):
        parse_reference(text)
