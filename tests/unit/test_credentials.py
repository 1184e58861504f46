"""Which stored credentials apply to a registry: file order, Docker Hub's key, path-prefixed
keys, and what a helper is asked for."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kkimage.auth import AuthEntry
from kkimage.credentials import (
    HUB_SERVER,
    Credentials,
    CredentialsError,
    DockerCredentials,
    auth_files,
)
from tests.credential_helper import Helper


def auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def write(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "docker")}


def test_file_order_is_containers_auth_json_then_docker(tmp_path):
    env = {"HOME": "/h", "XDG_RUNTIME_DIR": "/run/u", "DOCKER_CONFIG": "/d"}
    assert auth_files(env) == [
        Path("/run/u/containers/auth.json"),
        Path("/h/.config/containers/auth.json"),
        Path("/d/config.json"),
    ]
    env["REGISTRY_AUTH_FILE"] = "/a.json"
    assert auth_files(env)[0] == Path("/a.json")
    assert auth_files({"HOME": "/h"})[-1] == Path("/h/.docker/config.json")


@pytest.mark.parametrize(
    "key", [HUB_SERVER, "docker.io", "index.docker.io", "registry-1.docker.io"]
)
def test_docker_hub_is_one_registry_under_all_its_keys(tmp_path, env, key):
    write(tmp_path / "docker/config.json", {"auths": {key: auth("me", "pw")}})
    found = DockerCredentials(env).lookup("docker.io", "library/alpine")
    assert (found.username, found.password) == ("me", "pw")
    assert DockerCredentials(env).lookup("quay.io", "library/alpine") is None


def test_the_first_file_with_credentials_wins(tmp_path, env):
    write(tmp_path / "docker/config.json", {"auths": {"r.example": auth("docker", "1")}})
    first = write(tmp_path / "auth.json", {"auths": {"other.example": auth("podman", "2")}})
    env["REGISTRY_AUTH_FILE"] = str(first)
    assert DockerCredentials(env).lookup("r.example", "a/b").username == "docker"
    write(first, {"auths": {"r.example": auth("podman", "2")}})
    assert DockerCredentials(env).lookup("r.example", "a/b").username == "podman"


def test_the_longest_repository_prefix_wins_and_ports_differ(tmp_path, env):
    write(
        tmp_path / "docker/config.json",
        {
            "auths": {
                "r.example": auth("host", "1"),
                "r.example/team": auth("team", "2"),
                "r.example/team/app": auth("app", "3"),
                "r.example:5000": auth("port", "4"),
            }
        },
    )
    credentials = DockerCredentials(env)
    assert credentials.lookup("r.example", "team/app").username == "app"
    assert credentials.lookup("r.example", "team/other").username == "team"
    assert credentials.lookup("r.example", "teamster/x").username == "host"
    assert credentials.lookup("r.example:5000", "team/app").username == "port"
    assert credentials.lookup("r.example:5001", "team/app") is None


def test_a_helper_is_asked_for_docker_hub_by_its_v1_url(tmp_path, env, monkeypatch):
    helper = Helper(tmp_path / "bin")
    helper.answer({HUB_SERVER: {"Username": "hub", "Secret": "s"}})
    monkeypatch.setenv("PATH", helper.path_env()["PATH"])
    write(tmp_path / "docker/config.json", {"credsStore": helper.name})
    assert DockerCredentials(env).lookup("docker.io", "library/alpine").username == "hub"
    assert helper.asked == [HUB_SERVER]


def test_a_bad_auth_field_is_an_error_naming_the_entry(tmp_path, env):
    write(tmp_path / "docker/config.json", {"auths": {"r.example": {"auth": "%%%"}}})
    with pytest.raises(CredentialsError, match=r"'r\.example'.*base64"):
        DockerCredentials(env).lookup("r.example", "a")


def test_reprs_never_show_a_secret():
    shown = repr(Credentials("alice", "s3cret", "t0ken", "~/.docker/config.json"))
    assert shown == "Credentials(username='alice', source='~/.docker/config.json')"
    entry = repr(AuthEntry("quay.io", None, "", "alice", "s3cret", plain_http=True))
    assert "alice" in entry and "plain_http=True" in entry and "s3cret" not in entry
