"""Plain text lists: one address, CIDR or ``a-b`` range per line.

``#`` and ``;`` start comments (whole-line or trailing); a UTF-8 BOM, CRLF line ends, blank
lines and a missing final newline are accepted. In lenient ("paste") mode every address,
CIDR and range is pulled out of arbitrary text such as a table copied from a support portal,
and each line that gave nothing is reported.
"""

from __future__ import annotations

import re

from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    decode_text,
    register,
)
from auditor.model import RangeSet, Severity

# Lenient mode cuts a line into words, then keeps the words that look like an address: four
# dotted numbers (with an optional /prefix), or IPv6 with '::' or at least six colons (so
# that times such as 12:30:45 are not taken). A word that looks like an address but is not a
# valid one is an error, never a silent drop.
_WORDS = re.compile(r"[\s,;|()\[\]<>\"'`{}]+")
_V4_LIKE = re.compile(r"[0-9]+(?:\.[0-9]+){3}(?:/[0-9]+)?")
_V6_LIKE = re.compile(r"[0-9A-Fa-f.:]*:[0-9A-Fa-f.:]*(?:/[0-9]+)?")
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HEX = frozenset("0123456789abcdefABCDEF")
_DASHES = ("-", "\u2013", "\u2014", "to")


def _address_like(word: str) -> bool:
    if _V4_LIKE.fullmatch(word):
        return True
    return bool(_V6_LIKE.fullmatch(word)) and ("::" in word or word.count(":") >= 6)


def _unwrap(word: str) -> tuple[str, str | None]:
    """A word without sentence punctuation, a ``label:`` before it or a ``:port`` after it;
    returns (word, port)."""
    word = word.rstrip(".")
    head, sep, rest = word.partition(":")
    if sep and _LABEL.fullmatch(head) and not set(head) <= _HEX and _address_like(rest):
        word = rest  # ip4:192.0.2.0/24, IP:203.0.113.5, ip6:2001:db8::/32
    if word.count(":") == 1:
        addr, _, port = word.partition(":")
        if _V4_LIKE.fullmatch(addr) and port.isdigit():
            return addr, port
    return word, None


def _lenient_items(line: str) -> list[tuple[str, str | None]]:
    """(item, port) for every address, CIDR or range in a line of free text."""
    words = [w for w in _WORDS.split(line) if w]
    items: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words):
        word, port = _unwrap(words[i])
        # "a - b", "a to b", "a – b" across words
        if _address_like(word) and i + 2 < len(words) and words[i + 1].lower() in _DASHES:
            end, _ = _unwrap(words[i + 2])
            items.append((f"{word}-{end}", None))
            i += 3
            continue
        for dash in _DASHES[:3]:
            left, sep, right = word.partition(dash)
            if sep and _address_like(left) and right and (right.isdigit() or _address_like(right)):
                word = f"{left}-{right}"  # a-b in one word; a-9 (nmap style) fails to parse
                break
        else:
            if not _address_like(word):
                i += 1
                continue
        items.append((word, port))
        i += 1
    return items


# A file whose first this many entries are all invalid is refused as a whole.
GIVE_UP_AFTER = 1000

# Above this size the strict reader tries the vectorised parser first.
VECTOR_BYTES = 64 * 1024


def strip_comment(line: str) -> str:
    for mark in ("#", ";"):
        cut = line.find(mark)
        if cut >= 0:
            line = line[:cut]
    return line.strip()


def split_lines(text: str) -> list[str]:
    """Split on LF only (str.splitlines also splits on U+2028, FF and others), drop CR."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@register
class TextReader(Reader):
    name = "text"
    description = "one address, CIDR or a-b range per line; # and ; comments"
    suffixes = (".txt", ".list", ".lst", ".cidr", ".conf")

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        if ctx.lenient:
            return self._parse_lenient(data, ctx)
        if len(data) >= VECTOR_BYTES:
            from auditor import _vector

            fast = _vector.parse_text(data, ctx)
            if fast is not None:
                return fast
        text = decode_text(data, ctx)
        out = Collector(ctx, self.name)
        for lineno, raw in enumerate(split_lines(text), 1):
            item = strip_comment(raw)
            if item and out.add_text(item, out.origin(lineno)) is None and not out.entries:
                if out.counts.get("bad-entry", 0) >= GIVE_UP_AFTER:
                    # garbage, not a list: stop early instead of wording every line of it
                    raise ReaderError(
                        f"the first {GIVE_UP_AFTER} entries are all invalid; this does not look"
                        f" like a list of addresses (first: {out.errors[0].message})",
                        source=ctx.name,
                    )
        return out.result(data)

    def _parse_lenient(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        out = Collector(ctx, "text-lenient")
        for lineno, raw in enumerate(split_lines(text), 1):
            if not raw.strip() or raw.lstrip().startswith(("#", ";")):
                continue
            origin = out.origin(lineno)
            items = _lenient_items(raw)
            for item, port in items:
                if port:
                    out.note(
                        "ignored-port", Severity.INFO, f"port :{port} after {item} ignored", origin
                    )
                out.add_text(item, origin)  # an invalid address-like word is a bad entry
            if not items:
                shown = raw.strip()
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                out.note("ignored-line", Severity.INFO, f"no address in {shown!r}", origin)
        return out.result(data)
