import pytest

from kkimage.auth import endpoint_for, parse_challenge, select_auth
from kkimage.errors import TaskError
from kkimage.task import parse_auths


def entries(*repos):
    return parse_auths(
        [{"repo": r, "username": r, "password": "secret"} for r in repos], "auths", print
    )


@pytest.mark.parametrize(
    ("repos", "image", "chosen"),
    [
        (["other.io", "reg.io"], "reg.io/a/b", "reg.io"),
        (["reg.io", "reg.io/team"], "reg.io/team/app", "reg.io/team"),
        (
            ["reg.io/team", "reg.io/team/app"],
            "reg.io/team/app/x",
            "reg.io/team/app",
        ),  # longer prefix
        (["reg.io/team", "reg.io/team/app"], "reg.io/team/app", "reg.io/team/app"),  # exact path
        (["reg.io/teamx", "reg.io"], "reg.io/team/app", "reg.io"),  # prefix at component boundary
        (["reg.io:5000", "reg.io"], "reg.io:5000/a", "reg.io:5000"),
        (["reg.io"], "reg.io:5000/a", "reg.io"),  # entry without port fits any port
        (["docker.io"], "registry-1.docker.io/library/x", "docker.io"),
        (["https://reg.io/"], "reg.io/a", "https://reg.io/"),
        (["REG.io"], "reg.io/a", "REG.io"),
    ],
)
def test_best_match(repos, image, chosen):
    registry, _, repository = image.partition("/")
    found = select_auth(entries(*repos), registry, repository)
    assert found is not None and found.username == chosen


@pytest.mark.parametrize(
    ("repos", "image"),
    [
        (["other.io"], "quay.io/a/b"),  # KubeKey v4.0.3 would use the first entry here
        (["reg.io:5001"], "reg.io:5000/a"),
        (["reg.io/team"], "reg.io/other/app"),
        (["reg.io/team"], "reg.io/teamx/app"),
        (["reg.io"], "reg.io.evil.com/a"),
    ],
)
def test_an_entry_that_does_not_fit_is_never_used(repos, image):
    registry, _, repository = image.partition("/")
    assert select_auth(entries(*repos), registry, repository) is None


@pytest.fixture
def pem(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("not checked here")
    return str(path)


def test_g2_spellings_are_accepted(pem):
    entry_args = {
        "registry": "reg.io",
        "skip_tls_verify": True,
        "ca_file": pem,
        "cert_file": pem,
        "key_file": pem,
    }
    (entry,) = parse_auths([entry_args], "auths", print)
    assert entry.insecure is True and entry.ca_file == pem


def test_tls_files_must_exist_and_credentials_must_be_strings():
    with pytest.raises(TaskError, match="no such file"):
        parse_auths([{"repo": "reg.io", "ca_file": "/nonexistent/ca.pem"}], "auths", print)
    with pytest.raises(TaskError, match="quote it"):
        parse_auths([{"repo": "reg.io", "username": "u", "password": 5349}], "auths", print)


def test_password_never_in_repr():
    (entry,) = entries("reg.io")
    assert "secret" not in repr(entry)


@pytest.mark.parametrize(
    "value",
    [
        [{"username": "u"}],
        [{"repo": ""}],
        [{"repo": "reg.io:port"}],
        "reg.io",
        [{"repo": "r.io", "insecure": "maybe"}],
    ],
)
def test_invalid_entries(value):
    with pytest.raises(TaskError):
        parse_auths(value, "auths", print)


def test_endpoint_tls_settings(pem):
    (entry,) = parse_auths([{"repo": "reg.io", "ca_file": pem}], "auths", print)
    assert endpoint_for("reg.io", entry, False).verify == pem
    assert endpoint_for("reg.io", None, True).verify is False  # operation default applies
    (insecure,) = parse_auths([{"repo": "reg.io", "insecure": True}], "auths", print)
    assert endpoint_for("reg.io", insecure, False).verify is False
    (secure,) = parse_auths([{"repo": "reg.io", "insecure": False}], "auths", print)
    assert endpoint_for("reg.io", secure, True).verify is True  # the entry overrides the default
    (plain,) = parse_auths([{"repo": "reg.io", "plain_http": True}], "auths", print)
    assert endpoint_for("reg.io", plain, False).base_url == "http://reg.io"
    assert endpoint_for("reg.io", None, False).base_url == "https://reg.io"


def test_challenge_parsing():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
