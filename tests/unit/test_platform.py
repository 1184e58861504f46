import pytest

from kkimage.errors import PlatformError
from kkimage.platform import Platform, PlatformFilter

AVAILABLE = [
    {"platform": {"os": "linux", "architecture": "amd64"}, "digest": "amd64"},
    {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}, "digest": "arm64"},
    {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}, "digest": "armv7"},
    {"platform": {"os": "linux", "architecture": "arm", "variant": "v6"}, "digest": "armv6"},
    {"platform": {"os": "windows", "architecture": "amd64"}, "digest": "win"},
    {"platform": {"os": "unknown", "architecture": "unknown"}, "digest": "attestation"},
]


def kept(*spellings):
    selection = PlatformFilter.from_argument(list(spellings)).select(AVAILABLE)
    return [d["digest"] for d in selection.kept]


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        (["amd64"], ["amd64", "win"]),  # an architecture alone matches any OS
        (["linux/amd64"], ["amd64"]),
        (["x86_64"], ["amd64", "win"]),
        (["arm64"], ["arm64"]),
        (["aarch64"], ["arm64"]),
        (["linux/arm64/v8"], ["arm64"]),
        (["arm"], ["armv7"]),  # arm means arm/v7, as containerd normalizes it
        (["linux/arm/v6"], ["armv6"]),
        (["armhf"], ["armv7"]),
        (["linux/arm/7"], ["armv7"]),
        (["arm64", "linux/amd64"], ["amd64", "arm64"]),  # original order, not request order
        (["LINUX/AMD64"], ["amd64"]),
    ],
)
def test_matching(spellings, expected):
    assert kept(*spellings) == expected


def test_arm_never_matches_arm64_and_arm64_never_matches_arm():
    assert "arm64" not in kept("arm")
    assert not {"armv7", "armv6"} & set(kept("arm64"))


def test_attestations_are_never_kept():
    assert "attestation" not in kept("amd64", "arm64", "arm", "linux/arm/v6")


@pytest.mark.parametrize("value", [None, [], ["*"], ["all"], ["amd64", "all"], "all"])
def test_everything_means_no_filter(value):
    assert PlatformFilter.from_argument(value) is None


def test_missing_platforms_are_reported():
    selection = PlatformFilter.from_argument(["amd64", "linux/ppc64le", "linux/arm/v5"]).select(
        AVAILABLE
    )
    assert [str(p) for p in selection.missing] == ["linux/ppc64le", "linux/arm/v5"]


@pytest.mark.parametrize(
    "value", ["linux/amd64/v2/x", "linux//amd64", "", 3, {"os": "linux"}, "arm/v7", "amd64/linux"]
)
def test_invalid_spellings(value):
    with pytest.raises(PlatformError):
        PlatformFilter.from_argument([value])


def test_single_image_config_platform():
    config = {"os": "linux", "architecture": "arm", "variant": "v6"}
    assert str(Platform.of(config)) == "linux/arm/v6"
    assert not PlatformFilter.from_argument(["arm"]).accepts(Platform.of(config))
    assert PlatformFilter.from_argument(["linux/arm/v6"]).accepts(Platform.of(config))
    assert not PlatformFilter.from_argument(["amd64"]).accepts(None)
