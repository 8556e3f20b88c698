"""An in-process HTTP(S) server on 127.0.0.1 for tests that fetch feeds, and a CONNECT proxy.

Usage (the fixtures ``tls_ca``, ``https_server`` and ``http_server`` are exposed to every test
by ``tests/conftest.py``)::

    def test_feed(https_server, tmp_path):
        https_server.route("/ip-ranges.json", Reply(body=b"{...}", etag='"v1"'))
        https_server.route("/flaky", [Reply(status=503), Reply(body=b"ok")])
        options = NetOptions(ca_bundle=https_server.ca_bundle, cache_dir=tmp_path)
        ... https_server.url("/ip-ranges.json") ...
        assert https_server.requests[0].headers["User-Agent"].startswith("allowlist-auditor/")

- ``route(path, replies)``: one :class:`Reply` or a sequence served in order, the last one
  repeated. A route whose path has a query matches only that exact target; any other route
  ignores the query of a request. An unrouted path answers 404.
- :class:`Reply` options: ``etag`` / ``last_modified`` make the server answer 304 to a matching
  ``If-None-Match`` / ``If-Modified-Since`` (RFC 9110 section 13.1); ``gzip=True`` compresses
  the body; ``drip`` sends the body one byte every ``drip`` seconds; ``truncate_to=n`` announces
  the full Content-Length but sends ``n`` bytes and closes; ``delay`` waits before answering.
- ``requests``: every request received, as :class:`Recorded` (method, path, headers).
- ``url(path)``, ``ca_bundle`` (a PEM path for ``NetOptions(ca_bundle=...)``; None without TLS).
- ``with serve(tls_ca, names=["feeds.example.net"]) as server``: a server for one block, e.g.
  with a certificate for another name. ``with connect_proxy() as proxy``: a CONNECT proxy; set
  ``HTTPS_PROXY`` to ``proxy.url`` and read the tunnels from ``proxy.connects``.

The server is ``http.server.ThreadingHTTPServer`` with TLS done per connection in the handler
thread; drip and truncation are written straight to the socket, so no raw-socket mode is needed.
:meth:`FeedServer.stop` shuts down every open connection and joins every handler thread, so no
socket outlives a test (the suite turns ResourceWarnings into errors).
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip as gzip_module
import http.server
import select
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """One canned answer. ``headers`` are sent as given, after the ones the server computes."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    drip: float | None = None
    truncate_to: int | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    """A request as received; ``headers`` looks names up case-insensitively."""

    method: str
    path: str
    headers: Message


def _not_modified(reply: Reply, request_headers: Message) -> bool:
    """RFC 9110 section 13.1.3: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        if reply.etag is None:
            return False
        tags = [t.strip() for t in if_none_match.split(",")]
        weak = reply.etag.removeprefix("W/")
        return "*" in tags or any(t.removeprefix("W/") == weak for t in tags)
    if_modified_since = request_headers.get("If-Modified-Since")
    if if_modified_since is None or reply.last_modified is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
        modified = email.utils.parsedate_to_datetime(reply.last_modified)
    except (TypeError, ValueError):
        return False
    return modified <= since


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        self.server.owner._record(Recorded(self.command, self.path, self.headers))
        reply = self.server.owner._next_reply(self.path)
        if reply.delay and self.server.owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if _not_modified(reply, self.headers):
            self.send_response(304)
            self._validators(reply)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = gzip_module.compress(reply.body, mtime=0) if reply.gzip else reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        self._validators(reply)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.drip is not None or reply.truncate_to is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if reply.truncate_to is not None:
            body = body[: reply.truncate_to]
        if reply.drip is None:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            if self.server.owner._stopping.wait(reply.drip):
                return
            self.wfile.write(body[i : i + 1])

    def _validators(self, reply: Reply) -> None:
        if reply.etag is not None:
            self.send_header("ETag", reply.etag)
        if reply.last_modified is not None:
            self.send_header("Last-Modified", reply.last_modified)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test asserts on ``server.requests`` instead."""


class _Server(http.server.ThreadingHTTPServer):
    """Joins its handler threads on close, and does TLS in the handler thread."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: FeedServer, context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.context = context
        super().__init__((HOST, 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        conn: socket.socket = request
        # headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK hold a small answer (a 304) back for about 40 ms
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            try:
                conn = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: the test asserts on its side
        self.owner._opened(conn)
        try:
            super().finish_request(conn, client_address)
        finally:
            self.owner._closed(conn)
            if conn is not request:
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (deadline, size cap) is expected, not an error."""


class FeedServer:
    """A started server; use the fixtures, or ``with serve(...) as server`` for a custom cert."""

    def __init__(self, ca: trustme.CA | None = None, names: Sequence[str] = (HOST, "localhost")):
        self._lock = threading.Lock()
        self._routes: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.requests: list[Recorded] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="httpd-")
        self.ca_bundle: str | None = None
        context = None
        if ca is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert(*names).configure_cert(context)
            bundle = Path(self._tmp.name) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            self.ca_bundle = str(bundle)
        self.scheme = "https" if context is not None else "http"
        self._server = _Server(self, context)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{HOST}:{self.port}{path}"

    def route(self, path: str, replies: Reply | Sequence[Reply]) -> None:
        answers = [replies] if isinstance(replies, Reply) else list(replies)
        if not answers:
            raise ValueError("a route needs at least one Reply")
        with self._lock:
            self._routes[path] = answers
            self._served[path] = 0

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            live = list(self._connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()
        self._tmp.cleanup()

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, target: str) -> Reply:
        with self._lock:
            path = target if target in self._routes else target.split("?", 1)[0]
            answers = self._routes.get(path)
            if answers is None:
                return Reply(status=404, body=b"not found\n", content_type="text/plain")
            index = min(self._served[path], len(answers) - 1)
            self._served[path] += 1
            return answers[index]

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


@contextlib.contextmanager
def serve(
    ca: trustme.CA | None = None, names: Sequence[str] = (HOST, "localhost")
) -> Iterator[FeedServer]:
    """A server for one block: HTTPS with a certificate for ``names`` when ``ca`` is given."""
    server = FeedServer(ca, names)
    try:
        yield server
    finally:
        server.stop()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy (RFC 9110 section 9.3.6) that records each tunnel target.

    Set ``HTTPS_PROXY=proxy.url`` to send https requests through it; ``connects`` lists the
    ``host:port`` of every tunnel asked for.
    """

    def __init__(self) -> None:
        self.connects: list[str] = []
        self._stopping = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def stop(self) -> None:
        self._stopping.set()
        self._accepter.join()
        for thread in self._threads:
            thread.join()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._tunnel, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _ = request_line.split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.connects.append(target)
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stopping.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.05)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
                except OSError:
                    return


@contextlib.contextmanager
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A private CA that issues the test servers' certificates (not trusted by default)."""
    return trustme.CA()


@pytest.fixture
def https_server(tls_ca: trustme.CA) -> Iterator[FeedServer]:
    """An HTTPS server on 127.0.0.1 whose certificate (for 127.0.0.1 and localhost) chains to
    ``tls_ca``; pass ``https_server.ca_bundle`` as ``NetOptions(ca_bundle=...)``."""
    with serve(tls_ca) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[FeedServer]:
    """A plain HTTP server on 127.0.0.1 (for refusing https->http redirects)."""
    with serve() as server:
        yield server
