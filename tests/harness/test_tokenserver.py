"""The token server against the real registry: scopes are really checked."""

from __future__ import annotations

import jwt
import pytest
import requests

from kkimage_fixtures import images
from kkimage_fixtures.registry import start_binary
from kkimage_fixtures.seed import RegistryClient
from kkimage_fixtures.tokenserver import AccessPolicy, parse_scope


@pytest.fixture(scope="module")
def token(tmp_path_factory, pki):
    with start_binary("token", tmp_path_factory.mktemp("token"), pki=pki) as registry:
        yield registry


def client(registry, user=None):
    password = registry.users[user] if user else None
    return RegistryClient(registry.url, user, password, verify=registry.ca_file)


def test_pusher_pushes_puller_pulls_but_cannot_push(token):
    image = images.single("token-rights", seed="token-rights")
    client(token, "pusher").push("team/app", image)
    assert client(token, "puller").manifest_bytes("team/app", "v1") == image.root.data
    with pytest.raises(RuntimeError, match="401"):
        client(token, "puller").push("team/other", images.single("other", seed="other"))


def test_anonymous_pull_only_where_allowed(token):
    image = images.single("token-anon", seed="token-anon")
    client(token, "pusher").push("public/app", image)
    client(token, "pusher").push("private/app", image)
    anonymous = client(token)
    assert anonymous.manifest_bytes("public/app", "v1") == image.root.data
    assert anonymous.get_manifest("private/app", "v1").status_code == 401


def test_wrong_password_is_refused_by_the_token_server(token):
    realm = token.token_realm
    answer = requests.get(
        realm,
        params={"service": "kkimage-registry", "scope": "repository:a:pull"},
        auth=("puller", "wrong"),
        verify=token.ca_file,
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_token_grants_only_allowed_actions(token):
    realm = token.token_realm
    answer = requests.get(
        realm,
        params=[("service", "kkimage-registry"), ("scope", "repository:a/b:pull,push")],
        auth=("puller", token.users["puller"]),
        verify=token.ca_file,
        timeout=10,
    )
    body = answer.json()
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
    assert claims["aud"] == "kkimage-registry" and isinstance(claims["exp"], int)
    assert "x5c" in jwt.get_unverified_header(body["token"])
    assert body["expires_in"] >= 60


def test_policy_and_scopes():
    policy = AccessPolicy.default()
    assert policy.allowed(None, "public/x") == {"pull"}
    assert policy.allowed(None, "publicity/x") == set()
    assert policy.allowed("pusher", "any/thing") == {"pull", "push"}
    assert parse_scope("repository:a/b:pull,push") == ("repository", "a/b", {"pull", "push"})
    assert parse_scope("repository:host:5000/a:pull") == ("repository", "host:5000/a", {"pull"})
