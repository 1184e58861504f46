from pathlib import Path

import pytest

from kkimage.errors import KkImageError
from kkimage.transports.locations import parse_location


@pytest.mark.parametrize(
    ("text", "scheme", "path"),
    [
        ("local://images", "local", Path("images")),
        ("local:///data/images/", "local", Path("/data/images")),
        ("oci-layout:///tmp/layout", "oci-layout", Path("/tmp/layout")),
        ("oci-archive://out/images.tar", "oci-archive", Path("out/images.tar")),
        ("docker-archive:///tmp/a.tar", "docker-archive", Path("/tmp/a.tar")),
    ],
)
def test_paths(text, scheme, path):
    location = parse_location(text)
    assert (location.scheme, location.path, location.is_registry) == (scheme, path, False)


def test_registries_keep_their_port_and_tag():
    location = parse_location("oci://127.0.0.1:5000/kubesphere/ks-apiserver:v4.1.3")
    assert location.is_registry
    assert str(location.reference) == "127.0.0.1:5000/kubesphere/ks-apiserver:v4.1.3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/data/images", "has no scheme"),
        ("s3://bucket/x", "unknown scheme s3://"),
        ("local://", "names nothing"),
        ("oci://Reg/App:v1", "invalid image reference"),
        (42, "expected a URL"),
    ],
)
def test_what_is_not_a_location_names_the_argument(text, message):
    with pytest.raises(KkImageError, match=message) as caught:
        parse_location(text, "src")
    assert str(caught.value).startswith("src: ")
