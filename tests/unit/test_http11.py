"""The HTTP/1.1 wire: what a request looks like, and how each framing of a reply is read.

The server end is a socket pair written by hand: these are the replies a real registry
seldom sends (chunked, interim, close-delimited, cut short), byte for byte.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading

import pytest

from kkimage.http11 import (
    Connection,
    IncompleteRead,
    ProtocolError,
    RemoteDisconnected,
    open_tunnel,
)


@pytest.fixture
def pair():
    client, server = socket.socketpair()
    yield Connection(client), server
    client.close()
    server.close()


def serve(server: socket.socket, reply: bytes, close: bool = False) -> None:
    with contextlib.suppress(OSError):  # in a thread: the client may have given up first
        server.sendall(reply)
        if close:
            server.shutdown(socket.SHUT_WR)


def received(server: socket.socket) -> bytes:
    server.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += server.recv(65536)
    return data


def test_a_request_has_its_host_and_a_length_for_a_body(pair):
    connection, server = pair
    connection.send("PUT", "/v2/a/blobs/uploads/x?digest=y", "hub:5000", {"X-A": "1"}, b"abc", 8)
    head, _, body = received(server).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "PUT /v2/a/blobs/uploads/x?digest=y HTTP/1.1"
    assert {"Host: hub:5000", "X-A: 1", "Content-Length: 3"} <= set(lines[1:])
    assert body == b"abc"


def test_a_post_without_a_body_says_its_length_is_zero(pair):
    connection, server = pair
    connection.send("POST", "/v2/a/blobs/uploads/", "hub", {}, None, 8)
    assert b"\r\nContent-Length: 0\r\n" in received(server)
    connection.send("GET", "/v2/", "hub", {}, None, 8)
    assert b"Content-Length" not in received(server)


def test_a_streamed_body_goes_out_in_blocks_of_its_length(pair):
    connection, server = pair
    body = io.BytesIO(b"x" * 10)
    connection.send("PUT", "/u", "hub", {"Content-Length": "10"}, body, 3)
    data = received(server)
    while data.count(b"x") < 10:
        data += server.recv(100)
    assert data.endswith(b"\r\n\r\n" + b"x" * 10)


def test_a_header_value_with_a_line_break_is_refused(pair):
    connection, _ = pair
    with pytest.raises(ValueError):
        connection.send("GET", "/", "hub", {"X": "a\r\nInjected: 1"}, None, 8)


def test_a_content_length_body_then_the_next_reply_on_the_same_connection(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: a\r\n\r\nhello")
    serve(server, b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}")
    reply = connection.reply("GET")
    assert (reply.status, reply.reason, reply.headers["etag"]) == (200, "OK", "a")
    assert reply.read() == b"hello"
    assert reply.isclosed() and not reply.will_close
    second = connection.reply("GET")
    assert second.status == 404 and second.read(100) == b"{}"


def test_a_chunked_body_is_read_across_chunks_and_its_trailer_skipped(pair):
    connection, server = pair
    chunks = b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n"
    serve(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    serve(server, b"HTTP/1.1 204 No Content\r\n\r\n")
    reply = connection.reply("GET")
    buffer = bytearray(10)
    assert reply.readinto(memoryview(buffer)) == 4  # a chunk at a time
    assert reply.read() == b"efg"
    assert reply.isclosed()
    assert connection.reply("GET").status == 204  # the trailer was read to its end


def test_interim_replies_are_skipped(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /x\r\n")
    serve(server, b"Content-Length: 0\r\n\r\n")
    reply = connection.reply("PUT")
    assert reply.status == 201 and reply.headers.get("location") == "/x"
    assert reply.isclosed()


def test_a_head_reply_has_no_body_whatever_its_length(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n")
    serve(server, b"Content-Length: 0\r\n\r\n")
    assert connection.reply("HEAD").read() == b""
    assert connection.reply("GET").status == 200


def test_a_body_without_a_length_ends_with_the_connection(pair):
    connection, server = pair
    serve(server, b"HTTP/1.0 200 OK\r\n\r\nall of it", close=True)
    reply = connection.reply("GET")
    assert reply.will_close
    assert reply.read() == b"all of it"
    assert reply.isclosed()


def test_a_body_cut_short_is_given_as_it_came_and_its_missing_length_kept(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)
    reply = connection.reply("GET")
    assert reply.read(10) == b"abc"
    assert reply.length == 7 and reply.will_close
    assert reply.read(10) == b""


def test_a_chunked_body_cut_short_raises(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nabc", close=True)
    with pytest.raises(IncompleteRead):
        connection.reply("GET").read()


def test_connection_close_and_http_1_0_keep_alive(pair):
    connection, server = pair
    serve(server, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    serve(server, b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
    assert connection.reply("GET").will_close
    assert not connection.reply("GET").will_close


def test_folded_and_repeated_headers(pair):
    connection, server = pair
    serve(
        server,
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=a,\r\n service=b\r\n"
        b"WWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
    )
    headers = connection.reply("GET").headers
    assert headers["www-authenticate"] == "Bearer realm=a, service=b"  # the first, unfolded
    assert "WWW-Authenticate" in headers and "Location" not in headers


def test_a_connection_closed_before_a_reply(pair):
    connection, server = pair
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(RemoteDisconnected):
        connection.reply("GET")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", r"not an HTTP/1.x reply, it began with SSH-2.0-OpenSSH$"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", r"began with HTTP/1.1 2000 OK$"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", r"without a name: no colon here$"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", r"not one number: -1$"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", r"not one number: 1, 2$"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", "too long"),
        (b"HTTP/1.1 200 " + b"O" * 70000 + b"\r\n\r\n", "too long"),
    ],
)
def test_what_is_not_http_is_refused_in_plain_words(pair, reply, message):
    connection, server = pair
    threading.Thread(target=serve, args=(server, reply, True), daemon=True).start()
    with pytest.raises(ProtocolError, match=message):
        connection.reply("GET")


@pytest.mark.parametrize("size", [b"zz", b"-1", b"0x5", b"1_0", b""])
def test_a_bad_chunk_size_is_refused(pair, size):
    connection, server = pair
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    serve(server, head + size + b"\r\n" + b"x" * 20, close=True)
    with pytest.raises(ProtocolError, match=f"size is not a hex number: {size.decode()}$"):
        connection.reply("GET").read()


def test_a_tunnel_is_asked_for_and_its_refusal_named():
    client, proxy = socket.socketpair()
    proxy.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    assert open_tunnel(client, "hub:443", "Basic eA==") is client
    head = received(proxy).decode()
    assert head.startswith("CONNECT hub:443 HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic eA==" in head
    client.sendall(b"through")  # the socket is still usable: nothing was left buffered
    assert proxy.recv(100) == b"through"
    refused, proxy2 = socket.socketpair()
    proxy2.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(OSError, match="407"):
        open_tunnel(refused, "hub:443", None)
    for sock in (client, proxy, refused, proxy2):
        sock.close()
