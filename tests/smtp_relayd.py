"""A scripted SMTP server on 127.0.0.1 for the tests of ``auditor probe smtp``.

It speaks just enough SMTP for a probe, and misbehaves on demand the ways real servers and the
boxes in front of them do::

    with smtp_server(Script(banner=None)) as server:        # closes before the banner
    with smtp_server(Script(close_after_banner=True)) as s:  # closes right after it
    with smtp_server(Script(banner="554 5.7.1 go away")) as s:
    with smtp_server(Script(replies={"MAIL": "550 5.7.1 not you"})) as s:
    with smtp_server(Script(), tls=ca.issue_cert("127.0.0.1")) as s:  # offers STARTTLS

Run as a program (``python3 tests/smtp_relayd.py HOST:PORT``), it serves the accepting script
on that address until it is killed, and prints ``listening HOST:PORT`` once it accepts
connections (a test that starts it in a network namespace waits for that line).

``server.peers``: the client address of every connection; ``server.commands``: every command
line received, in order. :meth:`SmtpServer.stop` closes every connection and joins every
thread, so no socket outlives a test.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trustme

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Script:
    """What the server says. ``banner=None`` closes before the banner; ``replies`` replaces
    the reply to a verb (``EHLO``, ``STARTTLS``, ``MAIL``, ``RCPT``, ``RSET``, ``QUIT``); a
    reply may have several lines (``\\n``-separated, sent as a multi-line reply)."""

    banner: str | None = "220 mx.test ESMTP ready"
    close_after_banner: bool = False
    silent: bool = False
    """Accept, then say nothing until the client goes away (a tarpit, a stuck proxy)."""
    replies: Mapping[str, str] = field(default_factory=dict)


class SmtpServer:
    def __init__(
        self,
        script: Script,
        tls: trustme.LeafCert | None = None,
        address: tuple[str, int] = (HOST, 0),
    ) -> None:
        self.script = script
        self.context: ssl.SSLContext | None = None
        if tls is not None:
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(self.context)
        self.peers: list[str] = []
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._listener = socket.create_server(address)
        self.host: str = address[0]
        self.port: int = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.peers.append(peer[0])
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _reply(self, verb: str, default: str) -> bytes:
        text = self.script.replies.get(verb, default)
        lines = text.split("\n")
        out = [f"{line[:3]}-{line[4:]}" for line in lines[:-1]] + [lines[-1]]
        return "".join(line + "\r\n" for line in out).encode()

    def _serve(self, conn: socket.socket) -> None:
        opened: list[socket.socket] = [conn]
        try:
            self._talk(conn, opened)
        except (OSError, ssl.SSLError):
            pass
        finally:
            # closing is the point of some scripts: the client sees the end of the stream
            for sock in reversed(opened):
                with contextlib.suppress(OSError):
                    sock.close()

    def _talk(self, sock: socket.socket, opened: list[socket.socket]) -> None:
        if self.script.silent:
            sock.recv(1)  # until the client closes (or stop() shuts the connection down)
            return
        if self.script.banner is None:
            return
        sock.sendall(self.script.banner.encode() + b"\r\n")
        if self.script.close_after_banner:
            return
        reader = sock.makefile("rb")
        opened.append(reader)  # type: ignore[arg-type]
        while True:
            line = reader.readline()
            if not line:
                return
            command = line.decode().rstrip("\r\n")
            with self._lock:
                self.commands.append(command)
            verb = command.split(":", 1)[0].split(" ", 1)[0].upper()
            ehlo = "250-mx.test\n" + ("250-STARTTLS\n" if self.context else "")
            default = {
                "EHLO": ehlo + "250 8BITMIME",
                "STARTTLS": "220 2.0.0 go ahead",
                "QUIT": "221 2.0.0 bye",
            }.get(verb, "250 2.0.0 ok")
            sock.sendall(self._reply(verb, default))
            if verb == "QUIT":
                return
            if verb == "STARTTLS" and self.context and "STARTTLS" not in self.script.replies:
                sock = self.context.wrap_socket(sock, server_side=True)
                opened.append(sock)
                with self._lock:
                    self._conns.append(sock)
                reader = sock.makefile("rb")
                opened.append(reader)  # type: ignore[arg-type]

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepter.join()
        with self._lock:
            live = list(self._conns)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.close()


@contextlib.contextmanager
def smtp_server(script: Script, tls: trustme.LeafCert | None = None) -> Iterator[SmtpServer]:
    server = SmtpServer(script, tls)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def ca_bundle(ca: trustme.CA) -> Iterator[Path]:
    """The CA's certificate as a PEM file, for --ca-bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ca.pem"
        ca.cert_pem.write_to_path(str(path))
        yield path


def main(argv: list[str]) -> None:
    host, port = argv[1].rsplit(":", 1)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = SmtpServer(Script(), address=(host, int(port)))
    try:
        print(f"listening {server.target}", flush=True)
        stopped.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv)
