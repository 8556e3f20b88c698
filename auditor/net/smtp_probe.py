"""Connect to an SMTP server the way a sending relay does and say how far it got.

One probe is one TCP connection from an optional local address: the banner, EHLO, optionally
STARTTLS (the certificate verified, unless asked not to) and EHLO again, optionally MAIL FROM
and RCPT TO, then RSET and QUIT. DATA is never sent: no message is delivered.

The client is a raw socket, not :mod:`smtplib`, so each way a connection can end is told apart
exactly: a TCP reset to the SYN (``refused``), no answer at all (``timeout``), a connection
that opens and then closes before or right after the banner (``eof``), a 5xx or 4xx reply
(``rejected``, ``tempfail``), a TLS handshake that fails (``tls-failed``). Each step keeps the
time it took and the server's words.

Outcomes that end the probe before it could ask anything of the server (the name does not
resolve, the local address cannot be bound) are the probe's own trouble, not the server's
answer: :data:`LOCAL_TROUBLE`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = (
    "ok",
    "refused",
    "timeout",
    "unreachable",
    "eof",
    "rejected",
    "tempfail",
    "tls-failed",
    "dns-failed",
    "bind-failed",
    "error",
)
"""Every outcome, in the order they are explained."""
LOCAL_TROUBLE = frozenset({"dns-failed", "bind-failed", "error"})
"""Outcomes that say the probe could not run, not what the server or the path answered."""

DEFAULT_PORT = 25
_MAX_LINE = 4096
_MAX_LINES = 200


@dataclass(frozen=True)
class Step:
    """One exchange: what was sent (``connect`` and ``banner`` send nothing), the reply code
    (None when there was none), the reply's lines and the seconds it took."""

    name: str
    seconds: float
    code: int | None = None
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """How one probe ended: the ``outcome`` (one of :data:`OUTCOMES`), why, in a sentence
    (``detail``), and each step with its timing and the server's words."""

    host: str
    port: int
    outcome: str
    detail: str
    address: str | None = None
    """The server's address connected to (None when the name did not resolve)."""
    source: str | None = None
    """The local address asked for with --source (None: the system's choice)."""
    local: str | None = None
    """The local address the connection really had."""
    steps: tuple[Step, ...] = ()
    seconds: float = 0.0
    tls: str | None = None
    """The TLS version and cipher after STARTTLS."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class ProbeOptions:
    """What a probe does and how long it waits."""

    timeout: float = 30.0
    """Seconds for the whole probe: connecting and every reply."""
    helo: str = "localhost"
    starttls: bool = False
    ca_bundle: Path | None = None
    """Trusted in addition to the system's CAs for STARTTLS."""
    insecure: bool = False
    """STARTTLS without checking the certificate (the handshake must still succeed)."""
    mail_from: str | None = None
    rcpt: tuple[str, ...] = field(default_factory=tuple)


def split_target(target: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address, as (host, port).

    Raises ValueError with what is wrong."""
    text = target.strip()
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(
                f"{target!r}: an IPv6 address in brackets is [ADDRESS] or [ADDRESS]:PORT"
            )
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a name, an IPv4 address or a bare IPv6 address: the default port
    if not host:
        raise ValueError(f"{target!r}: no host")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{target!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order, without duplicates.

    Raises OSError (``socket.gaierror``) when the name does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def probe_all(
    host: str, port: int, sources: Sequence[str | None], options: ProbeOptions
) -> list[ProbeResult]:
    """One probe per source (None: the system's choice) and server address of its family."""
    start = time.monotonic()
    try:
        addresses = resolve(host, port)
    except OSError as e:
        why = getattr(e, "strerror", None) or str(e)
        took = time.monotonic() - start
        return [
            ProbeResult(
                host, port, "dns-failed", f"{host} does not resolve: {why}", source=s, seconds=took
            )
            for s in sources
        ]
    results = []
    for source in sources:
        family = None if source is None else _family(source)
        if family is None and source is not None:
            results.append(
                ProbeResult(
                    host, port, "bind-failed", f"{source!r} is not an IP address", source=source
                )
            )
            continue
        usable = [a for a in addresses if family is None or _family(a) == family]
        if not usable:
            results.append(
                ProbeResult(
                    host,
                    port,
                    "dns-failed",
                    f"{host} has no IPv{family} address to reach from {source}",
                    source=source,
                )
            )
        results += [probe(host, port, address, source, options) for address in usable]
    return results


def _family(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).version
    except ValueError:
        return None


class _Ended(Exception):
    """Ends a probe with its outcome."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class _Session:
    """The exchanges of one probe on one socket, under one deadline."""

    def __init__(self, sock: socket.socket, deadline: float, start: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.start = start
        self.buffer = b""
        self.steps: list[Step] = []

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def exchange(self, name: str, command: str | None) -> tuple[int, tuple[str, ...]]:
        """Send ``command`` (None: only read, as for the banner) and read the reply, recorded
        as a step. Raises _Ended with ``eof`` or ``timeout`` when no reply comes."""
        began = time.monotonic()
        try:
            if command is not None:
                self.sock.settimeout(self.left())
                self.sock.sendall(command.encode("ascii", "replace") + b"\r\n")
            code, lines = self._reply()
        except _Ended as e:
            self.steps.append(Step(name, time.monotonic() - began))
            if e.outcome != "eof":
                raise
            where = "before the banner" if name == "banner" else f"right after {self._after(name)}"
            raise _Ended(e.outcome, f"{e.detail} {where}") from None
        except TimeoutError:
            self.steps.append(Step(name, time.monotonic() - began))
            what = "banner" if name == "banner" else f"reply to {name}"
            raise _Ended("timeout", f"connected, but no {what} in time") from None
        except OSError as e:
            self.steps.append(Step(name, time.monotonic() - began))
            where = "before the banner" if name == "banner" else f"right after {self._after(name)}"
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                raise _Ended("eof", f"the server reset the connection {where}") from None
            raise _Ended("eof", f"the connection broke {where}: {e.strerror or e}") from None
        self.steps.append(Step(name, time.monotonic() - began, code, lines))
        return code, lines

    def _after(self, name: str) -> str:
        if name == "EHLO" and [s.name for s in self.steps[-2:-1]] == ["banner"]:
            return "the banner (on EHLO)"
        return f"{name}"

    def _reply(self) -> tuple[int, tuple[str, ...]]:
        lines: list[str] = []
        while True:
            raw = self._line()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                raise _Ended("rejected", f"not an SMTP reply: {text[:80]!r}")
            if text[3:4] != "-" or len(lines) >= _MAX_LINES:
                return int(text[:3]), tuple(lines)

    def _line(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > _MAX_LINE:
                line, self.buffer = self.buffer[:_MAX_LINE], b""
                return line
            self.sock.settimeout(self.left())
            chunk = self.sock.recv(4096)
            if not chunk:
                raise _Ended("eof", "the server closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def _verdict(name: str, code: int, lines: tuple[str, ...]) -> None:
    """Raise _Ended when ``code`` refuses ``name``."""
    said = lines[-1] if lines else str(code)
    if 500 <= code < 600:
        raise _Ended("rejected", f"rejected at {name}: {said}")
    if 400 <= code < 500:
        raise _Ended("tempfail", f"deferred at {name}: {said}")
    if not 200 <= code < 400:
        raise _Ended("rejected", f"unexpected reply at {name}: {said}")


def _context(options: ProbeOptions) -> ssl.SSLContext:
    if options.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if options.ca_bundle is not None:
        context.load_verify_locations(cafile=str(options.ca_bundle))
    return context


def probe(
    host: str, port: int, address: str, source: str | None, options: ProbeOptions
) -> ProbeResult:
    """One connection to ``address`` (an address of ``host``), from ``source`` when given."""
    start = time.monotonic()
    deadline = start + options.timeout
    family = socket.AF_INET6 if _family(address) == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    session = _Session(sock, deadline, start)
    tls: str | None = None
    local: str | None = None
    handshake = False

    def result(outcome: str, detail: str) -> ProbeResult:
        return ProbeResult(
            host,
            port,
            outcome,
            detail,
            address=address,
            source=source,
            local=local,
            steps=tuple(session.steps),
            seconds=time.monotonic() - start,
            tls=tls,
        )

    try:
        if source is not None:
            try:
                sock.bind((source, 0))
            except OSError as e:
                return result(
                    "bind-failed",
                    f"cannot use the local address {source}: {e.strerror or e}"
                    " (is it configured on this host, and of the server's family?)",
                )
        began = time.monotonic()
        try:
            sock.settimeout(options.timeout)
            sock.connect((address, port))
        except TimeoutError:
            session.steps.append(Step("connect", time.monotonic() - began))
            return result("timeout", f"no answer to the connection in {options.timeout:g} s")
        except ConnectionRefusedError:
            session.steps.append(Step("connect", time.monotonic() - began))
            return result(
                "refused", "the connection was refused (TCP reset or ICMP port unreachable)"
            )
        except OSError as e:
            session.steps.append(Step("connect", time.monotonic() - began))
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
                return result("unreachable", f"cannot reach {address}: {e.strerror or e}")
            return result("error", f"cannot connect to {address}: {e.strerror or e}")
        session.steps.append(Step("connect", time.monotonic() - began))
        local = str(sock.getsockname()[0])
        try:
            code, lines = session.exchange("banner", None)
            _verdict("the banner", code, lines)
            code, lines = session.exchange("EHLO", f"EHLO {options.helo}")
            _verdict("EHLO", code, lines)
            if options.starttls:
                if not any(line[4:].strip().upper() == "STARTTLS" for line in lines[1:]):
                    raise _Ended("tls-failed", "the server does not offer STARTTLS")
                code, lines = session.exchange("STARTTLS", "STARTTLS")
                if code != 220:
                    said = lines[-1] if lines else str(code)
                    raise _Ended("tls-failed", f"STARTTLS refused: {said}")
                began, handshake = time.monotonic(), True
                try:
                    sock.settimeout(session.left())
                    wrapped = _context(options).wrap_socket(sock, server_hostname=host)
                except (ssl.SSLError, ssl.CertificateError) as e:
                    reason = getattr(e, "verify_message", None) or getattr(e, "reason", None)
                    said = f"TLS handshake failed: {reason or e}"
                    session.steps.append(Step("TLS", time.monotonic() - began, None, (said,)))
                    raise _Ended("tls-failed", said) from None
                except TimeoutError:
                    session.steps.append(Step("TLS", time.monotonic() - began))
                    raise _Ended("timeout", "no TLS handshake in time") from None
                except OSError as e:
                    session.steps.append(Step("TLS", time.monotonic() - began))
                    raise _Ended("tls-failed", f"TLS handshake failed: {e.strerror or e}") from None
                sock = session.sock = wrapped
                session.buffer = b""  # nothing the server said before TLS is trusted
                tls = f"{wrapped.version()} {(wrapped.cipher() or ('?',))[0]}"
                session.steps.append(Step("TLS", time.monotonic() - began, None, (tls,)))
                code, lines = session.exchange("EHLO", f"EHLO {options.helo}")
                _verdict("EHLO after STARTTLS", code, lines)
            if options.mail_from is not None or options.rcpt:
                sender = options.mail_from or ""
                code, lines = session.exchange("MAIL FROM", f"MAIL FROM:<{sender}>")
                _verdict("MAIL FROM", code, lines)
                for rcpt in options.rcpt:
                    code, lines = session.exchange("RCPT TO", f"RCPT TO:<{rcpt}>")
                    _verdict(f"RCPT TO:<{rcpt}>", code, lines)
                session.exchange("RSET", "RSET")
        except _Ended as e:
            if e.outcome in ("rejected", "tempfail") or (
                e.outcome == "tls-failed" and tls is None and not handshake
            ):
                _quit(session)  # the server still talks: leave as a relay would
            return result(e.outcome, e.detail)
        _quit(session)
        return result("ok", "the server accepted " + ", ".join(_accepted(options)))
    finally:
        sock.close()


def _accepted(options: ProbeOptions) -> list[str]:
    done = ["the connection", "EHLO"]
    if options.starttls:
        done.append("STARTTLS")
    if options.mail_from is not None or options.rcpt:
        done.append("MAIL FROM")
    if options.rcpt:
        done.append("RCPT TO")
    return done


def _quit(session: _Session) -> None:
    """QUIT, politely; whatever happens to it changes nothing."""
    try:
        session.exchange("QUIT", "QUIT")
    except (_Ended, OSError):
        pass
