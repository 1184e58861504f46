"""Credentials and TLS against real registries: htpasswd over HTTPS, and a private CA."""

from __future__ import annotations

from kkimage_fixtures import images
from kkimage_fixtures.faultproxy import FaultProxy
from tests.helpers import failed, ok, pull_task, push_task

SYSTEM_BUNDLE = {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}


def pull(registry, store, auths, **extra):
    return pull_task(store, [registry.ref("single-oci")], auths, **extra)


def test_basic_auth_with_the_right_password(kk, basic, store):
    ok(kk.run(pull(basic, store, [basic.auth()])))
    assert (store / basic.host / "seed/single-oci/manifests/v1").is_file()


def test_wrong_password_is_one_line_without_the_password(kk, basic, store):
    result = kk.run(pull(basic, store, [basic.auth(password="Wr0ng-s3cret-value")]))
    line = failed(result, "seed/single-oci:v1", "401")
    assert "Wr0ng-s3cret-value" not in result.stdout + result.stderr
    assert basic.running.password not in line
    assert not (store / basic.host).exists()


def test_missing_credentials(kk, basic, store):
    failed(
        kk.run(pull(basic, store, [basic.auth(username=None, password=None)])),
        "requires credentials",
    )


def test_an_entry_for_another_registry_is_never_used(kk, basic, store):
    other = basic.auth(repo="other.example:5000")
    tls_only = {"repo": basic.host, "ca_file": basic.running.ca_file}
    # the right credentials sit in an entry that does not fit: they must not be sent
    failed(kk.run(pull(basic, store, [other, tls_only])), "requires credentials")


def test_path_prefix_selects_the_entry(kk, basic, store):
    wrong = basic.auth(password="not-this-one")
    right = basic.auth(repo=f"{basic.host}/seed")
    ok(kk.run(pull(basic, store, [wrong, right])))


def test_push_with_basic_auth(kk, basic, tmp_path, namespace):
    store = tmp_path / "s"
    ok(kk.run(pull(basic, store, [basic.auth()])))
    ok(kk.run(push_task(store, f"{basic.host}/{namespace}/app", [basic.auth()])))
    assert basic.client.tags(f"{namespace}/app") == ["v1"]


def test_tls_is_verified_by_default(kk, tls, store):
    result = kk.run(pull(tls, store, [{"repo": tls.host}]), env=SYSTEM_BUNDLE)
    failed(result, "certificate verify failed")
    assert not (store / tls.host).exists()


def test_ca_file_trusts_the_private_ca(kk, tls, store):
    ok(kk.run(pull(tls, store, [tls.auth()]), env=SYSTEM_BUNDLE))


def test_ca_file_of_another_ca_is_refused(kk, tls, pki, store):
    failed(
        kk.run(pull(tls, store, [tls.auth(ca_file=str(pki.other_ca_file))])),
        "certificate verify failed",
    )


def test_insecure_works_although_requests_ca_bundle_is_set(kk, tls, store):
    ok(kk.run(pull(tls, store, [{"repo": tls.host, "insecure": True}]), env=SYSTEM_BUNDLE))


def test_operation_skip_tls_verify_is_the_default_for_entries(kk, tls, store):
    ok(kk.run(pull(tls, store, [], skip_tls_verify=True), env=SYSTEM_BUNDLE))
    # an entry that says insecure: false wins over the operation's default
    result = kk.run(
        pull(tls, store, [{"repo": tls.host, "insecure": False}], skip_tls_verify=True),
        env=SYSTEM_BUNDLE,
    )
    failed(result, "certificate verify failed")


def test_plain_http_against_https_fails_and_https_never_falls_back_to_http(kk, tls, plain, store):
    failed(kk.run(pull(tls, store, [{"repo": tls.host, "plain_http": True}])), "seed/single-oci:v1")
    failed(kk.run(pull(plain, store, [{"repo": plain.host}])), "TLS failure")
    assert not store.exists() or not any((store / "blobs").iterdir())


def test_proxies_from_the_environment_are_used(kk, plain, store):
    dead_proxy = {
        "HTTP_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "",
        "no_proxy": "",
    }
    failed(kk.run(pull(plain, store, [plain.auth()]), env=dead_proxy), "cannot reach")
    bypass = {**dead_proxy, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    ok(kk.run(pull(plain, store, [plain.auth()]), env=bypass))


def test_https_goes_through_the_proxys_tunnel(kk, tls, store):
    """HTTPS_PROXY: a CONNECT tunnel, the registry's certificate still checked end to end."""
    with FaultProxy(tls.running.url) as proxy:
        env = {"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
        ok(kk.run(pull(tls, store, [tls.auth()]), env=env))
        assert proxy.traffic.tunnels and set(proxy.traffic.tunnels) == {tls.host_with_port}
        # the tunnel is not a way around verification
        failed(
            kk.run(pull(tls, store / "2", [{"repo": tls.host}]), env={**env, **SYSTEM_BUNDLE}),
            "certificate verify failed",
        )


def test_bearer_token_pull_with_a_pull_only_user(kk, token, store):
    before = len(token.running.token_server.requests)
    ok(kk.run(pull_task(store, [token.ref("multi")], [token.auth("puller")])))
    asked = token.running.token_server.requests[before:]
    # one token for the repository, reused for the manifest, every child and every blob
    assert [(r.user, r.scopes, r.status) for r in asked] == [
        ("puller", ["repository:seed/multi:pull"], 200)
    ]


def test_pull_only_user_cannot_push(kk, token, tmp_path, namespace):
    store = tmp_path / "s"
    ok(kk.run(pull_task(store, [token.ref("single-oci")], [token.auth("puller")])))
    dest = f"{token.host}/{namespace}/app"
    result = kk.run(push_task(store, dest, [token.auth("puller")]))
    failed(result, "401", "not allowed")
    ok(kk.run(push_task(store, dest, [token.auth("pusher")])))
    assert token.client.tags(f"{namespace}/app") == ["v1"]


def test_anonymous_token_where_anonymous_pull_is_allowed(kk, token, store, namespace):
    image_ref = token.client.push("public/app", images.single("pub", seed=namespace))
    anonymous = {"repo": token.host, "ca_file": token.running.ca_file}
    ok(kk.run(pull_task(store, [image_ref], [anonymous])))
    failed(kk.run(pull_task(store, [token.ref("single-oci")], [anonymous])), "no credentials")


def test_wrong_password_at_the_token_server(kk, token, store):
    auth = token.auth(password="not-the-password")
    line = failed(kk.run(pull_task(store, [token.ref("single-oci")], [auth])), "token server")
    assert "not-the-password" not in line


def test_client_certificate(kk, mtls, store):
    ok(kk.run(pull_task(store, [mtls.ref("single-oci")], [mtls.auth()])))
    no_cert = mtls.auth(cert_file=None, key_file=None)
    failed(kk.run(pull_task(store, [mtls.ref("dockerlist")], [no_cert])), "client certificate")
