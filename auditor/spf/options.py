"""How SPF sources are read from DNS (:class:`DnsOptions`), with the check of a
``--nameserver``; light, so a run without SPF sources can build its options without the
DNS machinery."""

from __future__ import annotations

from dataclasses import dataclass

from auditor import ipspace
from auditor.errors import AuditorError, UsageError


@dataclass(frozen=True)
class DnsOptions:
    nameserver: str | None = None
    """IP or IP:PORT ([IPv6]:PORT); None uses the system's resolver configuration."""
    timeout: float = 3.0
    """Per query, seconds."""
    deadline: float = 20.0
    """The whole expansion, seconds (RFC 7208 section 4.6.4 asks for at least 20)."""
    workers: int = 16


def check_nameserver(text: str) -> None:
    """UsageError unless ``text`` is IP, IP:PORT or [IPv6]:PORT."""
    _split_nameserver(text)


def _split_nameserver(text: str) -> tuple[str, int]:
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(
                    f"invalid --nameserver {text!r}", hint="IP, IP:PORT or [IPv6]:PORT"
                )
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise UsageError(f"invalid --nameserver {text!r}", hint="IP, IP:PORT or [IPv6]:PORT")
        port = int(port_text)
    try:
        ipspace.parse_address(host)
    except AuditorError:
        raise UsageError(
            f"invalid --nameserver {text!r}: not an IP address", hint="IP, IP:PORT or [IPv6]:PORT"
        ) from None
    if not 0 < port < 65536:
        raise UsageError(f"invalid --nameserver port {port}")
    return host, port
