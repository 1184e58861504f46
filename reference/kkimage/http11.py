"""HTTP/1.1 on one socket: a request out, its reply's head parsed, its body framed.

What a registry client needs of RFC 9112 and no more: Content-Length, chunked and
close-delimited bodies, interim (1xx) replies skipped, kept-alive connections, a CONNECT
tunnel through a proxy. Not http.client: importing it loads the `email` package to parse
headers (and `ssl`, which plain-HTTP runs do not need), 9 ms of a small pull's start-up;
docs/performance.md.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

MAX_LINE = 65536  # bytes in a status or header line
MAX_HEADERS = 100
_NO_BODY = frozenset({204, 304})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # Content-Length: 0 when they have none


class ProtocolError(Exception):
    """A reply this client cannot read as HTTP/1.x."""


class RemoteDisconnected(ConnectionResetError):
    """The connection ended before a reply began (a kept-alive one the server had closed)."""


class IncompleteRead(ProtocolError):
    def __init__(self, missing: int | None = None) -> None:
        more = f", {missing} bytes of its body missing" if missing is not None else ""
        super().__init__(f"the connection ended before the reply did{more}")


class Headers(Mapping[str, str]):
    """A reply's headers, by name in any case; a repeated header's first value."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields: dict[str, str] = {}
        for name, value in fields:
            self._fields.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


class Reply:
    """A reply's status, headers and body, read from the connection's buffered reader."""

    def __init__(self, reader: Any, method: str) -> None:
        self._reader = reader
        while True:  # interim replies (100 Continue, 103 Early Hints) come before the reply
            version, self.status, self.reason = _status_line(reader)
            fields = _header_fields(reader)
            if not 100 <= self.status < 200:
                break
        self.headers = Headers(fields)
        tokens = _tokens(self.headers.get("Connection", ""))
        self.will_close = "close" in tokens or (
            version == "HTTP/1.0" and "keep-alive" not in tokens
        )
        self.length: int | None = None  # what is left of a Content-Length body
        self._chunk_left: int | None = None  # chunked: of this chunk (0: read the next size)
        if method == "HEAD" or self.status in _NO_BODY:
            self.length = 0
        elif _tokens(self.headers.get("Transfer-Encoding", ""))[-1:] == ["chunked"]:
            self._chunk_left = 0
        elif "Content-Length" in self.headers:
            self.length = _content_length(self.headers["Content-Length"])
        else:
            self.will_close = True  # the body ends where the connection does
        self._ended = self.length == 0

    def isclosed(self) -> bool:
        """Whether the body has been read to its end (or the connection's)."""
        return self._ended

    def readinto(self, buffer: memoryview) -> int:
        """Up to len(buffer) bytes of the body, fewer only at its end (or at a chunk's);
        0 at its end. Where the connection ends first: what came, then 0, with `length`
        still counting what is missing (a chunked body raises IncompleteRead)."""
        span = self._span(len(buffer))
        if not span:
            return 0
        got = self._reader.readinto(buffer[:span])
        self._advance(got, span)
        return got

    def read(self, amount: int | None = None) -> bytes:
        """Up to `amount` bytes of the body (all: None), as `readinto` would give them."""
        parts = []
        while amount is None or amount > 0:
            span = self._span(1 << 20 if amount is None else amount)
            if not span:
                break
            data = self._reader.read(span)
            self._advance(len(data), span)
            if not data:
                break
            parts.append(data)
            if amount is not None:
                amount -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _span(self, wanted: int) -> int:
        """How many of `wanted` bytes the body has next (0: it has ended)."""
        if self._ended or wanted <= 0:
            return 0
        if self._chunk_left is not None:
            if self._chunk_left == 0 and not self._next_chunk():
                return 0
            return min(wanted, self._chunk_left)
        return wanted if self.length is None else min(wanted, self.length)

    def _advance(self, got: int, span: int) -> None:
        """`got` bytes of the `span` asked for have been read: a buffered read gives fewer
        only where the connection ends."""
        if got < span:
            self._ended, self.will_close = True, True
            if self._chunk_left is not None:
                raise IncompleteRead()
            if self.length is not None:
                self.length -= got
            return
        if self._chunk_left is not None:
            self._chunk_left -= got
            if self._chunk_left == 0:
                self._end_of_chunk()
        elif self.length is not None:
            self.length -= got
            self._ended = self.length == 0

    def _next_chunk(self) -> bool:
        """Read the next chunk's size; False (and the trailer read) at the last chunk."""
        line = _line(self._reader)
        digits = line.split(b";", 1)[0].strip()
        if not digits or digits.strip(b"0123456789abcdefABCDEF"):  # int() takes "-1", "0x1"
            raise ProtocolError(f"a chunk's size is not a hex number: {_shown(line)}")
        size = int(digits, 16)
        if size == 0:
            _header_fields(self._reader)  # the trailer, ignored
            self._ended = True
            return False
        self._chunk_left = size
        return True

    def _end_of_chunk(self) -> None:
        if _line(self._reader) not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk does not end where its size says")


class Connection:
    """One connection: requests written, replies read, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")

    def send(
        self,
        method: str,
        target: str,
        host: str,
        headers: Mapping[str, str],
        body: bytes | Any | None,
        block: int,
    ) -> None:
        """The request: `body` is bytes, a file-like object (read `block` bytes at a time,
        its length in the Content-Length header or len(body)), or None."""
        fields = {"Host": host, "Accept-Encoding": "identity", **headers}
        names = {name.lower() for name in fields}
        if "content-length" not in names and (body is not None or method in _BODY_METHODS):
            fields["Content-Length"] = str(0 if body is None else len(body))
        if any(c in target for c in " \r\n") or any(
            "\r" in text or "\n" in text for field in fields.items() for text in field
        ):
            raise ValueError("a request line or header holds a space or a line break")
        head = f"{method} {target} HTTP/1.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
        data = head.encode("latin-1")
        if isinstance(body, bytes | bytearray | memoryview):
            self.sock.sendall(data + body)
            return
        self.sock.sendall(data)
        if body is not None:
            while chunk := body.read(block):
                self.sock.sendall(chunk)

    def reply(self, method: str) -> Reply:
        return Reply(self._reader, method)

    def close(self) -> None:
        self._reader.close()
        self.sock.close()


def open_tunnel(
    sock: socket.socket, authority: str, proxy_authorization: str | None
) -> socket.socket:
    """Ask the proxy at the other end of `sock` for a tunnel to `authority` (host:port)."""
    headers = {"Proxy-Authorization": proxy_authorization} if proxy_authorization else {}
    tunnel = Connection(sock)
    tunnel.send("CONNECT", authority, authority, headers, None, 0)
    reply = tunnel.reply("CONNECT")
    if reply.status != 200:
        raise OSError(f"the proxy refused a tunnel to {authority}: {reply.status} {reply.reason}")
    tunnel._reader.detach().close()  # the socket is the tunnel's: nothing may stay buffered
    return sock


def _shown(text: bytes | str) -> str:
    """The start of a line received, printable, for a message."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return "".join(c if c.isprintable() else "?" for c in text.strip()[:40])


def _line(reader: Any, at_start: bool = False) -> bytes:
    """The next line of the reply; at its start, an ended connection is RemoteDisconnected
    (a kept-alive connection the server had closed), anywhere else IncompleteRead."""
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError("a line of the reply is too long")
    if not line and at_start:
        raise RemoteDisconnected("the connection ended before a reply")
    if not line:
        raise IncompleteRead()
    return line


def _status_line(reader: Any) -> tuple[str, int, str]:
    line = _line(reader, at_start=True)
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x reply, it began with {_shown(line)}")
    return version, int(code), reason.strip()


def _header_fields(reader: Any) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    while (line := _line(reader)) not in (b"\r\n", b"\n"):
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and fields:  # an obsolete folded continuation
            name, value = fields.pop()
            fields.append((name, f"{value} {text.strip()}"))
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError(f"a header line without a name: {_shown(line)}")
        fields.append((name, value.strip()))
        if len(fields) > MAX_HEADERS:
            raise ProtocolError(f"more than {MAX_HEADERS} headers")
    return fields


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def _content_length(value: str) -> int:
    """A Content-Length (repeated as one value: the same number each time)."""
    values = {part.strip() for part in value.split(",")}
    if len(values) != 1 or not (number := values.pop()).isdigit():
        raise ProtocolError(f"a Content-Length that is not one number: {_shown(value)}")
    return int(number)
