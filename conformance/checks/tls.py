"""TLS and transport settings (docs/spec.md section 6)."""

from __future__ import annotations

from ..context import CaseContext
from . import check
from .common import TLS, expect_pulled, expect_refused, pull_image

# Variables that make some clients trust a bundle: `insecure` must work in spite of them.
CA_ENVIRONMENT = {
    "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    "CURL_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
}


@check
def verified_by_default(ctx: CaseContext) -> None:
    """Without the private CA, the server's certificate is not trusted."""
    store, outcome = pull_image(ctx, [ctx.registry.auth(ca_file=None)], env=CA_ENVIRONMENT)
    expect_refused(ctx, store, outcome, TLS)


@check
def ca_file_trusted(ctx: CaseContext) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth()], env=CA_ENVIRONMENT)
    expect_pulled(ctx, store, outcome, "a pull trusting ca_file")


@check
def other_ca_refused(ctx: CaseContext) -> None:
    other = str(ctx.registry.running.workdir / "pki" / "other-ca.crt")
    store, outcome = pull_image(ctx, [ctx.registry.auth(ca_file=other)])
    expect_refused(ctx, store, outcome, TLS)


@check
def entry_insecure(ctx: CaseContext) -> None:
    auth = ctx.registry.auth(ca_file=None, insecure=True)
    store, outcome = pull_image(ctx, [auth], env=CA_ENVIRONMENT)
    expect_pulled(ctx, store, outcome, "insecure: true with REQUESTS_CA_BUNDLE set")


@check
def operation_skip_tls_verify(ctx: CaseContext) -> None:
    auth = ctx.registry.auth(ca_file=None)
    store, outcome = pull_image(ctx, [auth], env=CA_ENVIRONMENT, skip_tls_verify=True)
    expect_pulled(ctx, store, outcome, "skip_tls_verify: true as the default for the entry")


@check
def entry_overrides_operation(ctx: CaseContext) -> None:
    """insecure: false in the entry wins over the operation's skip_tls_verify: true."""
    auth = ctx.registry.auth(ca_file=None, insecure=False)
    store, outcome = pull_image(ctx, [auth], env=CA_ENVIRONMENT, skip_tls_verify=True)
    expect_refused(ctx, store, outcome, TLS)


def _with_and_without(ctx: CaseContext, what: str, because: str, **without: None) -> None:
    """The registry's own entry works; the same entry without `without` is refused."""
    store, outcome = pull_image(ctx, [ctx.registry.auth()])
    expect_pulled(ctx, store, outcome, what)
    store, outcome = pull_image(ctx, [ctx.registry.auth(**without)], into="without")
    expect_refused(ctx, store, outcome, because)


@check
def client_certificate(ctx: CaseContext) -> None:
    _with_and_without(ctx, "a pull with cert_file and key_file", TLS, cert_file=None, key_file=None)


@check
def plain_http_needed(ctx: CaseContext) -> None:
    """A plain-HTTP registry works with plain_http and is never reached over HTTPS."""
    because = TLS + "|https" + _other_port_empty(ctx)
    _with_and_without(ctx, "a pull with plain_http", because, plain_http=None)


@check
def plain_http_against_https(ctx: CaseContext) -> None:
    store, outcome = pull_image(ctx, [ctx.registry.auth(plain_http=True)])
    expect_refused(ctx, store, outcome, r"400|https|tls|bad request" + _other_port_empty(ctx))


def _other_port_empty(ctx: CaseContext) -> str:
    """On a portless registry the other scheme's default port (80 or 443) has nobody
    listening: the refusal is the connection's, and still no fallback to the right scheme."""
    return r"|refused|connect" if ctx.registry.running.portless else ""


@check
def proxy_from_environment(ctx: CaseContext) -> None:
    """HTTP_PROXY is used (a forward proxy sees the requests); NO_PROXY bypasses it."""
    proxy = ctx.proxy()
    variables = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
    store, outcome = pull_image(ctx, [ctx.registry.auth()], env=variables)
    expect_pulled(ctx, store, outcome, "a pull through HTTP_PROXY")
    ctx.expect(proxy.traffic.forwarded > 0, "HTTP_PROXY was not used", "requests at the proxy", 0)
    seen = proxy.traffic.forwarded
    hostname = ctx.registry.host.rsplit(":", 1)[0]
    bypass = {**variables, "NO_PROXY": hostname, "no_proxy": hostname}
    store, outcome = pull_image(ctx, [ctx.registry.auth()], env=bypass)
    ctx.succeeded(outcome)
    ctx.expect_equal(proxy.traffic.forwarded, seen, "requests at the proxy despite NO_PROXY")
