"""Credentials never follow an upload Location to another host. A real registry does not
send one there, so two tiny HTTP servers stand in: the "registry" asks for Basic auth and
answers the upload POST with a Location on the other server, which records what it gets."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kkimage.auth import Authenticator
from kkimage.blobs import VerifiedReader
from kkimage.credentials import Credentials
from kkimage.registry import Registry
from kkimage.transport import Endpoint, RetryPolicy, Transport

SECRET = "Basic " + base64.b64encode(b"alice:s3cret").decode()


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_upload_location_on_another_host_gets_no_credentials():
    seen: list[str | None] = []

    class Other(BaseHTTPRequestHandler):
        def do_PUT(self):
            seen.append(self.headers.get("Authorization"))
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    other = serve(Other)

    class Registry_(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.headers.get("Authorization") != SECRET:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="r"')
            else:
                self.send_response(202)
                self.send_header("Location", f"http://localhost:{other.server_address[1]}/u/1")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    registry_server = serve(Registry_)
    try:
        endpoint = Endpoint(f"127.0.0.1:{registry_server.server_address[1]}", plain_http=True)
        transport = Transport(retry=RetryPolicy(attempts=1))
        auth = Authenticator(transport, endpoint, Credentials("alice", "s3cret"))
        registry = Registry(endpoint.host, endpoint, auth, transport, threading.Semaphore(1))
        digest = "sha256:" + hashlib.sha256(b"abc").hexdigest()
        blob = {"digest": digest, "size": 3}
        registry.push_blob("app", blob, lambda: VerifiedReader(io.BytesIO(b"abc"), digest, 3, "b"))
        assert seen == [None]
    finally:
        registry_server.shutdown()
        other.shutdown()
