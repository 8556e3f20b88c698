"""The fast path of the strict text reader for mid-sized lists, without numpy: one compiled
pattern and one C call per line (``inet_aton``, ``inet_pton``) take the plain IPv4 and IPv6
lines, and only the lines they refuse take the general, exact path of
:mod:`auditor.allowlists.lists.text`.

For a list of some ten thousand lines this is faster than importing numpy at all; the column
parsers of :mod:`auditor.allowlists.lists.text_bulk` take over for bigger inputs. Both take
exactly the lines the exact path reads the same way (the tests compare all three).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# ASCII digits only (re's \d would take other scripts' digits), no leading zeros
_V4 = re.compile(rf"({_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})(?:/(3[0-2]|[12]?[0-9]))?")
_V6 = re.compile(r"([0-9A-Fa-f:]{2,39})(?:/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?")
# host bits of each prefix length, by its text (a lookup instead of int() and a shift)
_HOST4 = {str(p): (1 << (32 - p)) - 1 for p in range(33)}
_HOST6 = {str(p): (1 << (128 - p)) - 1 for p in range(129)}


@dataclass
class Lines:
    """What the line parsers read (same fields as the column parsers' result, as lists), and
    the lines they left for the exact path."""

    first4: list[int] = field(default_factory=list)
    last4: list[int] = field(default_factory=list)
    line4: list[int] = field(default_factory=list)
    first6: list[int] = field(default_factory=list)
    last6: list[int] = field(default_factory=list)
    line6: list[int] = field(default_factory=list)
    rest: list[tuple[int, str]] = field(default_factory=list)

    def slow(self) -> Iterator[tuple[int, str]]:
        """(line number, line text) of every non-empty line the line parsers did not take."""
        return iter(self.rest)


def columns(data: bytes) -> Lines | None:
    """The line parse of a strict list; None when the input needs the general path."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.isascii() or b"\0" in data:
        return None  # non-ASCII or binary: the general path gives the exact message
    text = data.decode("ascii")
    out = Lines()
    v4, v6 = _V4.fullmatch, _V6.fullmatch
    aton, pton, af6, from_bytes = (
        socket.inet_aton,
        socket.inet_pton,
        socket.AF_INET6,
        int.from_bytes,
    )
    first4, last4, line4 = out.first4, out.last4, out.line4
    first6, last6, line6 = out.first6, out.last6, out.line6
    rest = out.rest
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    host4, host6 = _HOST4, _HOST6
    for number, line in enumerate(lines, 1):
        m = v4(line)
        if m is not None:
            address, prefix = m.groups()
            value = from_bytes(aton(address), "big")
            mask = host4[prefix] if prefix else 0
            if not value & mask:
                first4.append(value)
                last4.append(value | mask)
                line4.append(number)
                continue
        else:
            m = v6(line)
            if m is not None:
                address, prefix = m.groups()
                try:
                    value = from_bytes(pton(af6, address), "big")
                except OSError:
                    value = -1
                mask = host6[prefix] if prefix else 0
                # host bits and IPv4-mapped addresses: the exact path says what they are
                if value >= 0 and not value & mask and value >> 32 != 0xFFFF:
                    first6.append(value)
                    last6.append(value | mask)
                    line6.append(number)
                    continue
        if line:
            rest.append((number, line))
    return out
