"""Credentials from Docker's config.json, podman's auth.json and credential helpers, against
the real basic (htpasswd) and token registries, with a real helper program."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.credential_helper import Helper
from tests.helpers import failed, ok, pull_task


@pytest.fixture
def docker_dir(tmp_path: Path) -> Path:
    return tmp_path / "docker"


@pytest.fixture
def helper(tmp_path: Path) -> Helper:
    return Helper(tmp_path / "bin")


def write_config(directory: Path, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))


def login_entry(user: str, password: str) -> dict[str, str]:
    """What `docker login` writes into `auths`."""
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def run(kk, registry, store, docker_dir, *, auths=None, helper=None, extra_env=None, name="multi"):
    """A pull with no credentials of its own: only the registry's CA, from the environment
    (no `auths` at all, unless given)."""
    env = {**registry.ca_environment(), "DOCKER_CONFIG": str(docker_dir), **(extra_env or {})}
    if helper is not None:
        env.update(helper.path_env())
    return kk.run(pull_task(store, [registry.ref(name)], auths), env=env)


@pytest.mark.parametrize("profile", ["basic", "token"])
def test_a_docker_login_config_alone_pulls(kk, request, store, docker_dir, profile):
    registry = request.getfixturevalue(profile)
    running = registry.running
    write_config(
        docker_dir, {"auths": {registry.host: login_entry(running.username, running.password)}}
    )
    ok(run(kk, registry, store, docker_dir))
    assert (store / registry.host / "seed/multi/manifests/v1").is_file()
    if running.token_server:
        assert running.token_server.requests[-1].user == running.username


def test_without_the_config_the_same_pull_is_refused(kk, basic, store, docker_dir):
    failed(run(kk, basic, store, docker_dir), "requires credentials")


def test_username_and_password_keys_and_an_https_key(kk, token, store, docker_dir):
    running = token.running
    entry = {"username": running.username, "password": running.password}
    write_config(docker_dir, {"auths": {f"https://{token.host}": entry}})
    ok(run(kk, token, store, docker_dir))


def test_the_tasks_auths_entry_wins(kk, basic, store, docker_dir):
    running = basic.running
    write_config(docker_dir, {"auths": {basic.host: login_entry(running.username, "not-it")}})
    ok(run(kk, basic, store, docker_dir, auths=[basic.auth()]))  # the entry's right password
    write_config(
        docker_dir, {"auths": {basic.host: login_entry(running.username, running.password)}}
    )
    wrong = basic.auth(password="wrong-in-the-task")
    failed(run(kk, basic, store / "2", docker_dir, auths=[wrong]), "401")
    # an entry without credentials (TLS settings only) takes them from the config
    ok(run(kk, basic, store / "3", docker_dir, auths=[basic.auth(username=None, password=None)]))


def test_a_wrong_password_in_the_config_names_the_file(kk, basic, store, docker_dir):
    write_config(docker_dir, {"auths": {basic.host: login_entry(basic.running.username, "nope")}})
    line = failed(run(kk, basic, store, docker_dir), "401", str(docker_dir / "config.json"))
    assert "nope" not in line


def test_registry_auth_file_comes_before_docker_config(kk, basic, store, docker_dir, tmp_path):
    running = basic.running
    write_config(docker_dir, {"auths": {basic.host: login_entry(running.username, "stale")}})
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(
        json.dumps(
            {"auths": {f"{basic.host}/seed": login_entry(running.username, running.password)}}
        )
    )
    ok(run(kk, basic, store, docker_dir, extra_env={"REGISTRY_AUTH_FILE": str(auth_file)}))


def test_cred_helpers_entry(kk, token, store, docker_dir, helper):
    running = token.running
    helper.answer({token.host: {"Username": running.username, "Secret": running.password}})
    write_config(docker_dir, {"credHelpers": {token.host: helper.name}})
    ok(run(kk, token, store, docker_dir, helper=helper, name="multi"))
    ok(run(kk, token, store, docker_dir, helper=helper, name="single-oci"))
    assert helper.asked == [token.host, token.host]  # once per run, not once per request


def test_creds_store_with_the_key_docker_login_wrote(kk, basic, store, docker_dir, helper):
    running = basic.running
    server = f"https://{basic.host}"
    helper.answer({server: {"Username": running.username, "Secret": running.password}})
    write_config(docker_dir, {"auths": {server: {}}, "credsStore": helper.name})
    ok(run(kk, basic, store, docker_dir, helper=helper))
    assert helper.asked == [server]


def test_an_identity_token_from_a_helper(kk, token, store, docker_dir, helper):
    identity = secrets.token_urlsafe(16)
    policy = token.running.token_server.policy
    policy.identity_tokens[identity] = running_user = token.running.username
    helper.answer({token.host: {"Username": "<token>", "Secret": identity}})
    write_config(docker_dir, {"credHelpers": {token.host: helper.name}})
    ok(run(kk, token, store, docker_dir, helper=helper))
    assert token.running.token_server.requests[-1].user == running_user
    # an identity token the token server does not know is refused, and not shown
    helper.answer({token.host: {"Username": "<token>", "Secret": "unknown-" + identity}})
    line = failed(run(kk, token, store / "2", docker_dir, helper=helper), "identity token")
    assert identity not in line


def test_identitytoken_in_the_config(kk, token, store, docker_dir):
    identity = secrets.token_urlsafe(16)
    token.running.token_server.policy.identity_tokens[identity] = token.running.username
    write_config(docker_dir, {"auths": {token.host: {"identitytoken": identity}}})
    ok(run(kk, token, store, docker_dir))


def test_a_helper_that_has_nothing_means_anonymous(kk, basic, store, docker_dir, helper):
    write_config(docker_dir, {"credHelpers": {basic.host: helper.name}})
    failed(run(kk, basic, store, docker_dir, helper=helper), "requires credentials")


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [("fail", "failed for"), ("garbage", "something other than its JSON"), ("hang", "within 10 s")],
)
def test_a_failing_helper_is_one_line_naming_it_without_its_output(
    kk, basic, store, docker_dir, helper, mode, fragment
):
    secret = "hunter2-" + secrets.token_hex(4)
    helper.answer({}, mode=mode, leak=secret)
    write_config(docker_dir, {"credHelpers": {basic.host: helper.name}})
    names = [basic.ref("multi"), basic.ref("single-oci")]
    env = {**basic.ca_environment(), "DOCKER_CONFIG": str(docker_dir), **helper.path_env()}
    result = kk.run(pull_task(store, names), "--keep-going", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(f"docker-credential-{helper.name}" in line for line in lines)
    assert all(fragment in line for line in lines), lines
    assert secret not in result.stdout + result.stderr
    assert len(helper.asked) == 1  # a broken helper is asked once, not once per image
    assert not (store / basic.host).exists()


def test_a_missing_helper(kk, basic, store, docker_dir):
    write_config(docker_dir, {"credsStore": "no-such-helper-here"})
    failed(run(kk, basic, store, docker_dir), "docker-credential-no-such-helper-here", "PATH")


def test_a_config_that_is_not_json(kk, basic, store, docker_dir):
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text("{not json")
    failed(run(kk, basic, store, docker_dir), "config.json is not valid JSON")


@pytest.mark.docker
@pytest.mark.parametrize("profile", ["basic", "token"])
def test_after_a_real_docker_login(kk, request, store, docker_dir, profile):
    """`docker login` itself writes the config (the engine treats 127.0.0.0/8 as an insecure
    registry, so it needs no CA); kkimage pulls with nothing else."""
    registry = request.getfixturevalue(profile)
    running = registry.running
    login = subprocess.run(
        ["docker", "login", "--username", running.username, "--password-stdin", registry.host],
        input=running.password,
        env={**os.environ, "DOCKER_CONFIG": str(docker_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    assert registry.host in json.loads((docker_dir / "config.json").read_text())["auths"]
    ok(run(kk, registry, store, docker_dir))
    assert (store / registry.host / "seed/multi/manifests/v1").is_file()
