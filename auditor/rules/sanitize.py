"""Text that goes into generated rules: comments from origins, names, and validated networks.

Origins come from feeds and file names, so they are hostile until proven otherwise
(RELIABILITY.md section 3). Nothing from them reaches a rule except through :func:`comment`,
which keeps a fixed set of ASCII characters and caps the length in bytes.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from auditor import ipspace
from auditor.model import MissingBlock, Origin

TAG = "allowlist-auditor"
"""Starts every comment, so that the rules this tool added can be found again."""

COMMENT_CHARS = frozenset(string.ascii_letters + string.digits + " ._:/,@+=()[]-")
"""Safe inside a double-quoted iptables-restore argument, an nft string and a shell word.

No quote of any kind, no backslash (iptables-restore and nft treat both specially), no ``#``
(starts a comment in both formats), no ``;``, ``$``, backtick, ``{}`` or ``|``.
"""

_SPACES = re.compile(r" {2,}")
_ELLIPSIS = "..."


def clean(text: str) -> str:
    """Keep :data:`COMMENT_CHARS`; whitespace of any kind becomes a space, the rest ``_``.

    Line and paragraph separators (``\\n``, ``\\r``, U+2028, U+0085) and control characters can
    never reach the output, so a comment cannot start a new rule or command.
    """
    out = []
    for ch in text:
        if ch in COMMENT_CHARS:
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append("_")
    return _SPACES.sub(" ", "".join(out)).strip()


def cut(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, never splitting a character; ``...`` marks a cut.

    Platforms count comment limits in bytes (nft: 128, iptables: 255), not characters.
    """
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    keep = max(limit - len(_ELLIPSIS), 0)
    head = data[:keep].decode("utf-8", errors="ignore").rstrip()
    return (head + _ELLIPSIS)[: max(limit, 0)]


def comment(parts: Iterable[str], limit: int, prefix: str = TAG) -> str:
    """A sanitized comment of at most ``limit`` bytes: ``prefix part, part, ...``.

    Empty parts and repeats are dropped. The result is empty when there is nothing to say,
    and callers omit an empty comment: iptables-restore rejects ``--comment ""``
    [aerleon lib/iptables.py].
    """
    seen: dict[str, None] = {}
    for part in parts:
        cleaned = clean(part)
        if cleaned:
            seen.setdefault(cleaned, None)
    body = ", ".join(seen)
    text = " ".join(p for p in (clean(prefix), body) if p)
    return cut(text, limit)


def origins_comment(origins: Iterable[Origin], limit: int, prefix: str = TAG) -> str:
    return comment((str(o) for o in origins), limit, prefix)


def cidr(block: MissingBlock) -> str:
    """The block's CIDR text, built from its integers after checking them.

    A platform would quietly widen a network with host bits set (``iptables -s 10.0.0.5/8``)
    or reject the whole file; neither may happen to output this tool wrote.
    """
    family, network, prefixlen = block.family, block.network, block.prefixlen
    if family not in ipspace.BITS:
        raise ValueError(f"address family {family!r} is not 4 or 6")
    bits = ipspace.BITS[family]
    if not 0 <= prefixlen <= bits:
        raise ValueError(f"prefix length {prefixlen!r} is not in 0..{bits}")
    if not 0 <= network <= ipspace.MAX[family]:
        raise ValueError(f"network {network!r} is not an IPv{family} address")
    if network & ((1 << (bits - prefixlen)) - 1):
        raise ValueError(f"network {network:#x}/{prefixlen} has host bits set")
    return ipspace.format_cidr(family, network, prefixlen)


def sorted_blocks(blocks: Iterable[MissingBlock]) -> list[MissingBlock]:
    """Blocks in a stable order (family, then address, then prefix), so output is reproducible."""
    return sorted(blocks, key=lambda b: (b.family, b.network, b.prefixlen))
