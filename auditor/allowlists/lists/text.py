"""Plain text lists: one address, CIDR or ``a-b`` range per line.

``#`` and ``;`` start comments (whole-line or trailing); a UTF-8 BOM, CRLF line ends, blank
lines and a missing final newline are accepted, and so are ``[2001:db8::1]`` and
``[2001:db8::]/32`` as Postfix writes them. An address with a mask, a glob or an abbreviated
network is refused with the CIDR to write instead.

In lenient ("paste") mode every address, CIDR and range is pulled out of arbitrary text such
as a table copied from a support portal, and each line that gave nothing is reported. There an
address followed by a netmask (``10.0.1.0 255.255.255.0``) or a contiguous wildcard mask
(``10.0.1.0 0.0.0.255``) is that network; globs (``10.0.*.*``) and abbreviated networks
(``192.168/16``) are read with netaddr, after a strict ASCII match. What could be read two ways
is reported with its line, never guessed: a mask of 0.0.0.0 or 255.255.255.255 (one address as
one kind of mask, every address as the other), a mask on its own, and two lone addresses side
by side (a range, or two hosts?).

An attempt at a network in a notation neither mode reads (``10/8``, ``172.16.*``, ``1.*.3.*``,
``192.168.1.0/*``) is a bad entry in both modes, with the CIDR to write when there is one; in
lenient mode a lone number with a prefix or one wildcard (``10/8``, ``1.*``) in a sentence that
also holds an address is a date or a version, and only there is it left out.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor import ipspace
from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    columns_result,
    decode_text,
)
from auditor.errors import AddressError
from auditor.model import Origin, RangeSet, Severity

if TYPE_CHECKING:
    from auditor.allowlists.lists import text_bulk, text_lines

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

# Other IPv4 notations, matched in plain ASCII before netaddr reads them (RELIABILITY.md 2.3):
# an address with a dotted mask, a glob (10.0.*.*) and an abbreviated network (192.168/16).
_OCTET = r"(?:0|[1-9][0-9]{0,2})"
_DOTTED = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_SLASH_MASK = re.compile(rf"({_DOTTED})/({_DOTTED})")
_SPACE_MASK = re.compile(rf"({_DOTTED})[ \t]+({_DOTTED})")
_GLOB = re.compile(rf"(?:{_OCTET}\.){{0,3}}\*(?:\.\*){{0,3}}")
_ABBREV = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{1,2}}/(?:0|[1-9][0-9]?)")
# Attempts at a network no mode reads: a glob netaddr does not take (172.16.*, 1.*.3.*,
# 192.168.1.0/*) and an abbreviated network whose prefix does not fit its octets (10/8, 10.1/24).
_GLOB_LIKE = re.compile(r"(?:[0-9]{1,3}|\*)(?:\.(?:[0-9]{1,3}|\*)){0,3}(?:/(?:[0-9]{1,2}|\*))?")
_SHORT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){0,2})/(0|[1-9][0-9]?)")
_PROSE = re.compile(r"[A-Za-z]{2}")
# [2001:db8::1], [2001:db8::]/32 (Postfix), [2001:db8::1]:25 (an endpoint)
_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+)\](/[0-9]+)?(?::([0-9]+))?")


@dataclass(frozen=True)
class _Item:
    """One thing found in a line of free text."""

    text: str
    word: int
    """The index of its (first) word in the line: items in adjacent words sit side by side."""
    port: str | None = None
    bare: bool = False
    """A lone address: no prefix, range, mask, label or port."""
    note: str | None = None
    """How it was read, when that is worth saying (a mask, a glob)."""
    error: str | None = None
    """Why it cannot be read; the item is then reported, never added."""
    doubtful: bool = False
    """An attempt at a network that may as well be a date or a version (10/8, 1.*)."""


def _v4_value(text: str) -> int | None:
    """The value of a valid IPv4 address (strict syntax), or None."""
    try:
        family, value, mapped = ipspace.parse_address(text)
    except AddressError:
        return None
    return value if family == 4 and not mapped else None


def _family(text: str) -> int | None:
    try:
        return ipspace.parse_address(text)[0]
    except AddressError:
        return None


def _mask_like(value: int) -> bool:
    """In 0.0.0.0/8 or 255.0.0.0/8: no host sends from there, every mask starts there."""
    return value >> 24 in (0, 255)


def read_mask(address: str, mask: str) -> tuple[str | None, str]:
    """An IPv4 address and a dotted mask (both valid addresses): (the CIDR, how the mask was
    read), or (None, why they are not one network). A netmask has its ones on the left, a
    wildcard (Cisco) mask on the right; 0.0.0.0 and 255.255.255.255 can be either and mean
    opposite things, so they are never read."""
    value = _v4_value(mask)
    if value is None:
        return None, f"{mask!r} is not a valid mask"
    if value in (0, ipspace.MAX[4]):
        one, every = ("wildcard mask", "netmask") if value == 0 else ("netmask", "wildcard mask")
        return None, (
            f"the mask {mask} is ambiguous: as a {one} it means the one address {address},"
            f" as a {every} every address; write {address}/32 or 0.0.0.0/0"
        )
    import netaddr  # only for masks: a plain list never loads it

    m = netaddr.IPAddress(value, 4)
    if m.is_netmask():
        return f"{address}/{m.netmask_bits()}", f"{mask} is a netmask"
    if m.is_hostmask():
        return f"{address}/{32 - value.bit_length()}", f"{mask} is a wildcard mask"
    return None, (
        f"the mask {mask} is not contiguous, so it matches no single network; write the"
        " networks it stands for as CIDRs, one per line"
    )


def _network(cidr: str) -> str:
    """``a/n`` with its host bits cleared (the form to suggest)."""
    parsed = ipspace.parse(cidr, "fix")
    return ipspace.format_cidr(parsed.family, parsed.first, parsed.prefixlen or 0)


def _other_notation(word: str) -> tuple[str | None, str] | None:
    """A glob or an abbreviated network as a CIDR: (CIDR, note), (None, why not), or None when
    the word is neither."""
    if _GLOB.fullmatch(word) and word.count(".") == 3:
        import netaddr  # only for these notations: a plain list never loads it

        try:
            (cidr,) = netaddr.glob_to_cidrs(word)
        except (netaddr.AddrFormatError, ValueError):
            return None, f"{word!r} is not a valid address pattern"
        return str(cidr), f"the pattern {word} is {cidr}"
    if _ABBREV.fullmatch(word):
        given = word.count(".") + 1
        prefix = int(word.partition("/")[2])
        if not 8 * (given - 1) < prefix <= 8 * given:
            return None  # 1.2/3: a ratio or a version, not a network
        import netaddr

        try:
            cidr = netaddr.cidr_abbrev_to_verbose(word)
        except (netaddr.AddrFormatError, ValueError):
            return None
        if _v4_value(cidr.partition("/")[0]) is None:
            return None, f"{word!r} is not a valid abbreviated network"
        return cidr, f"the abbreviated network {word} is {cidr}"
    return None


def _octets(parts: list[str]) -> int | None:
    """The leading octets of an IPv4 address (strict syntax) as its value, or None."""
    if not all(re.fullmatch(_OCTET, p) and int(p) <= 255 for p in parts):
        return None
    return int.from_bytes(bytes([*map(int, parts), 0, 0, 0][:4]), "big")


def _attempt(word: str) -> tuple[str, str, bool] | None:
    """A word that tries to be an IPv4 network in a notation no mode reads: (what is wrong,
    what to write, whether it is doubtful: a lone number with a prefix or one wildcard may be
    a date or a version); None when the word is no such attempt."""
    if "*" in word and _GLOB_LIKE.fullmatch(word) and any(c.isdigit() for c in word):
        parts = word.split(".")
        given = [p for p in parts if p != "*"]
        hint = "write each network it stands for as a CIDR or a range, one per line"
        trailing = "/" not in word and parts[: len(given)] == given  # only whole last octets
        if trailing and (value := _octets(given)) is not None:
            hint = f"write {ipspace.format_cidr(4, value, 8 * len(given))}"  # 172.16.0.0/16
        doubtful = "/" not in word and len(parts) == 2  # 1.* may be a version
        return f"{word!r} is a wildcard pattern, not a CIDR", hint, doubtful
    m = _SHORT.fullmatch(word)
    if m is None:
        return None
    value = _octets(m.group(1).split("."))
    prefix = int(m.group(2))
    hint = "write the network as a CIDR or a range"
    if value is None or prefix > 32:  # 010/8, 10/33: no network at all, still an attempt
        return f"{word!r} is not a network", hint, True
    if not value & ((1 << (32 - prefix)) - 1):
        hint = f"write {ipspace.format_cidr(4, value, prefix)}"  # 10/8 is 10.0.0.0/8
    return f"{word!r} is an abbreviated network, not a CIDR", hint, True


def _address_like(word: str) -> bool:
    if _V4_LIKE.fullmatch(word):
        return True
    return bool(_V6_LIKE.fullmatch(word)) and ("::" in word or word.count(":") >= 6)


def _unwrap(word: str) -> tuple[str, str | None, bool]:
    """A word without sentence punctuation, a ``label:`` before it or a ``:port`` after it;
    returns (word, port, whether a label named it)."""
    word = word.rstrip(".")
    labelled = False
    head, sep, rest = word.partition(":")
    if sep and _LABEL.fullmatch(head) and not set(head) <= _HEX and _address_like(rest):
        word, labelled = rest, True  # ip4:192.0.2.0/24, IP:203.0.113.5, ip6:2001:db8::/32
    if word.count(":") == 1:
        addr, _, port = word.partition(":")
        if _V4_LIKE.fullmatch(addr) and port.isdigit():
            return addr, port, labelled
    return word, None, labelled


def _words(line: str) -> tuple[list[str], dict[str, str]]:
    """The words of a line, with ``[v6]`` brackets opened, and the port after each bracketed
    address that had one."""
    ports: dict[str, str] = {}

    def opened(m: re.Match[str]) -> str:
        text = m.group(1) + (m.group(2) or "")
        if m.group(3):
            ports[text] = m.group(3)
        return f" {text} "

    return [w for w in _WORDS.split(_BRACKETED.sub(opened, line)) if w], ports


def _found(words: list[str], ports: dict[str, str]) -> list[_Item]:
    """Every address, CIDR, range, masked address, glob or abbreviated network in the words."""
    items: list[_Item] = []
    i = 0
    while i < len(words):
        word, port, labelled = _unwrap(words[i])
        port = port or ports.get(word)
        # "a - b", "a to b", "a – b" across words
        if _address_like(word) and i + 2 < len(words) and words[i + 1].lower() in _DASHES:
            end, _, _ = _unwrap(words[i + 2])
            items.append(_Item(f"{word}-{end}", i))
            i += 3
            continue
        if m := _SLASH_MASK.fullmatch(word):
            if _v4_value(m.group(1)) is None or _v4_value(m.group(2)) is None:
                items.append(_Item(word, i))  # invalid: reported when it is parsed
            else:
                cidr, how = read_mask(m.group(1), m.group(2))
                if cidr is None:
                    items.append(_Item(word, i, error=f"{word!r}: {how}"))
                else:
                    note = f"{word!r} read as {_network(cidr)} ({how})"
                    items.append(_Item(cidr, i, note=note))
            i += 1
            continue
        other = _other_notation(word) if ("*" in word or "/" in word) else None
        if other is not None:
            cidr, how = other
            items.append(_Item(cidr or word, i, note=how) if cidr else _Item(word, i, error=how))
            i += 1
            continue
        attempt = _attempt(word) if ("*" in word or "/" in word) else None
        if attempt is not None:
            what, hint, doubtful = attempt
            items.append(_Item(word, i, error=f"{what}; {hint}", doubtful=doubtful))
            i += 1
            continue
        for dash in _DASHES[:3]:
            left, sep, right = word.partition(dash)
            if sep and _address_like(left) and right and (right.isdigit() or _address_like(right)):
                items.append(_Item(f"{left}-{right}", i))  # a-9 (nmap style) fails to parse
                break
        else:
            if _address_like(word):
                bare = not labelled and port is None and "/" not in word
                items.append(_Item(word, i, port, bare))
        i += 1
    return items


def _with_masks(items: list[_Item]) -> list[_Item]:
    """An address followed by a mask is a network; a mask on its own is never an address."""
    out: list[_Item] = []
    j = 0
    while j < len(items):
        item = items[j]
        value = _v4_value(item.text) if item.bare else None
        after = items[j + 1] if j + 1 < len(items) else None
        mask = _v4_value(after.text) if after and after.bare else None
        if (
            value is not None
            and (not _mask_like(value) or value == 0)
            and after is not None
            and after.word == item.word + 1
            and mask is not None
            and _mask_like(mask)
        ):
            pair = f"{item.text} {after.text}"
            cidr, how = read_mask(item.text, after.text)
            if cidr is None:
                out.append(_Item(pair, item.word, error=f"{pair!r}: {how}"))
            else:
                note = f"{pair!r} read as {_network(cidr)} ({how})"
                out.append(_Item(cidr, item.word, note=note))
            j += 2
            continue
        if value is not None and _mask_like(value):
            out.append(
                _Item(
                    item.text,
                    item.word,
                    error=f"{item.text!r} looks like a mask, not an address (no host sends from"
                    f" {'0.0.0.0/8' if value >> 24 == 0 else '255.0.0.0/8'}); write the network"
                    " it belongs to as a CIDR, such as 192.0.2.0/24",
                )
            )
        else:
            out.append(item)
        j += 1
    return out


def _side_by_side(items: list[_Item]) -> list[_Item]:
    """Two lone addresses of one family side by side (``name,10.0.0.1,10.0.0.50``) may be a
    range or two hosts: the line is reported instead of guessed. Three or more are a list."""
    out: list[_Item] = []
    j = 0
    while j < len(items):
        run = [items[j]]
        while (
            run[-1].bare
            and j + len(run) < len(items)
            and (nxt := items[j + len(run)]).bare
            and nxt.word == run[-1].word + 1
            and _family(nxt.text) is not None
            and _family(nxt.text) == _family(run[0].text)
        ):
            run.append(nxt)
        if len(run) == 2:
            a, b = run[0].text, run[1].text
            out.append(
                _Item(
                    f"{a} {b}",
                    run[0].word,
                    error=f"{a!r} and {b!r} side by side may be a range or two addresses;"
                    f" write {a}-{b} for a range, or one address per line",
                )
            )
        else:
            out.extend(run)
        j += len(run)
    return out


def _lenient_items(line: str) -> list[_Item]:
    """Everything address-like in a line of free text, as it is read (or why it is not)."""
    words, ports = _words(line)
    items = _found(words, ports)
    if (
        any(item.doubtful for item in items)
        and not all(item.doubtful for item in items)
        and any(_PROSE.search(w) and not _address_like(_unwrap(w)[0]) for w in words)
    ):
        # "192.0.2.0/24 since 10/8": a sentence with an address in it; 10/8 is a date there
        items = [item for item in items if not item.doubtful]
    return _side_by_side(_with_masks(items))


def _strict_problem(item: str) -> tuple[str, str | None] | None:
    """For a strict list item written in a notation the list does not take (an address and a
    mask, two addresses, a glob): (what is wrong, what to write instead); None otherwise."""
    m = _SPACE_MASK.fullmatch(item) or _SLASH_MASK.fullmatch(item)
    if m and _v4_value(m.group(1)) is not None and (mask := _v4_value(m.group(2))) is not None:
        if _mask_like(mask):
            cidr, how = read_mask(m.group(1), m.group(2))
            what = f"{item!r} has a mask where a prefix length belongs"
            if "/" not in item:
                what = f"{item!r} is an address and a mask, not a CIDR"
            if cidr is None:
                return f"{what}: {how}", None
            return f"{what} ({how})", f"write {_network(cidr)}"
        if "/" in item:
            return f"{item!r} has an invalid prefix length {m.group(2)!r}", None
    pieces = item.split()
    if len(pieces) == 2 and all(_family(p) is not None for p in pieces):
        a, b = pieces
        hint = "write one address per line"
        if _family(a) == _family(b):
            hint = f"write {a}-{b} for a range, or one address per line"
        return f"{item!r} is two addresses on one line", hint
    if "*" in item or "/" in item:
        other = _other_notation(item)
        if other is not None and other[0] is not None:
            return f"{item!r} is not a CIDR", f"write {_network(other[0])}"
        attempt = _attempt(item)
        if attempt is not None:
            return attempt[0], attempt[1]
    return None


def add_strict(out: Collector, item: str, origin: Origin) -> ipspace.Parsed | None:
    """One item of a strict list: an address, CIDR or ``a-b`` range, also ``[v6]`` or
    ``[v6]/n`` as Postfix writes them. A bad one is an error finding (None is returned)."""
    if item.startswith("["):
        m = _BRACKETED.fullmatch(item)
        if m is None:
            out.note(
                "bad-entry",
                Severity.ERROR,
                f"{item!r} is not an address in brackets (write [2001:db8::1] or"
                " [2001:db8::]/32, or the address without brackets)",
                origin,
            )
            return None
        inner = m.group(1) + (m.group(2) or "")
        if m.group(3):
            out.note(
                "bad-entry",
                Severity.ERROR,
                f"{item!r} has a port; a list holds addresses, not endpoints (write {inner})",
                origin,
            )
            return None
        return out.add_text(inner, origin)
    try:
        parsed = ipspace.parse(item, out.ctx.host_bits)
    except AddressError as e:
        problem = _strict_problem(item)  # only for a line that failed: lists stay fast
        message = str(e) if problem is None else problem[0]
        if problem is not None and problem[1]:
            message += f" ({problem[1]})"
        out.note("bad-entry", Severity.ERROR, message, origin)
        return None
    out.add(parsed, item, origin, None)
    return parsed


# A file whose first this many entries are all invalid is refused as a whole.
GIVE_UP_AFTER = 1000

# Above this size the strict reader tries its fast parsers first.
VECTOR_BYTES = 64 * 1024
# From this size the fast parsers are numpy's column parsers (a file this big pays for the
# import of numpy); below it, a pattern per line, unless numpy is loaded already.
NUMPY_BYTES = 1024 * 1024


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


def parse_bulk(data: bytes, ctx: ReadContext, engine: str | None = None) -> RangeSet | None:
    """The strict reader for big files: fast parsers take the plain lines and the exact path
    the rest; None when the input needs the general path. ``engine``: "columns" (numpy's
    column parsers), "lines" (a pattern per line, no numpy) or None to choose by size: the
    column parsers when the file is big enough to pay for numpy's import or numpy is loaded
    already."""
    if engine is None:
        big = len(data) >= NUMPY_BYTES or "numpy" in sys.modules
        engine = "columns" if big else "lines"
    if engine == "lines":
        from auditor.allowlists.lists import text_lines

        lines = text_lines.columns(data)
        return None if lines is None else _bulk_result(data, ctx, lines, arrays=False)
    from auditor.allowlists.lists import text_bulk

    bulk = text_bulk.columns(data)
    return None if bulk is None else _bulk_result(data, ctx, bulk, arrays=True)


def _bulk_result(
    data: bytes, ctx: ReadContext, bulk: text_lines.Lines | text_bulk.Bulk, *, arrays: bool
) -> RangeSet | None:
    """The RangeSet from a fast parse (its columns numpy ``arrays`` or lists) and the exact
    path's reading of the lines it left."""
    from auditor.model import Columns

    out = Collector(ctx, "text")
    for lineno, raw in bulk.slow():
        item = strip_comment(raw)
        if item:
            add_strict(out, item, out.origin(lineno))
    if not len(bulk.first4) and not len(bulk.first6) and not out.entries:
        return None  # the general path words the error
    rest = out.result(data, explicit_empty=True)
    v4_extra, v6_extra = rest.entries.v4, rest.entries.v6
    if not arrays:
        v4 = Columns(
            first=bulk.first4 + list(v4_extra.first),
            last=bulk.last4 + list(v4_extra.last),
            line=bulk.line4 + list(v4_extra.line),
        )
        v6 = Columns(
            first=bulk.first6 + list(v6_extra.first),
            last=bulk.last6 + list(v6_extra.last),
            line=bulk.line6 + list(v6_extra.line),
        )
    else:
        import numpy as np

        from auditor._vector import wide_concat as wide

        def join(column: Any, extra: Sequence[int], dtype: Any) -> Any:
            # most big files have no line for the exact path: no copy then
            return column if not len(extra) else np.concatenate((column, np.asarray(extra, dtype)))

        v4 = Columns(
            first=join(bulk.first4, v4_extra.first, np.int64),
            last=join(bulk.last4, v4_extra.last, np.int64),
            line=join(bulk.line4, v4_extra.line, np.int32),
        )
        v6 = Columns(
            first=wide(bulk.first6, v6_extra.first),
            last=wide(bulk.last6, v6_extra.last),
            line=join(bulk.line6, v6_extra.line, np.int32),
        )
    return columns_result(data, ctx, "text", v4, v6, rest.findings, rest.reasons, rest.info)


class TextReader(Reader):
    name = "text"
    description = "one address, CIDR or a-b range per line; # and ; comments"
    suffixes = (".txt", ".list", ".lst", ".cidr", ".conf")

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        if ctx.lenient:
            return self._parse_lenient(data, ctx)
        if len(data) >= VECTOR_BYTES:
            fast = parse_bulk(data, ctx)
            if fast is not None:
                return fast
        text = decode_text(data, ctx)
        out = Collector(ctx, self.name)
        for lineno, raw in enumerate(split_lines(text), 1):
            item = strip_comment(raw)
            if item and add_strict(out, item, out.origin(lineno)) is None and not out.entries:
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
            for found in items:
                if found.error:
                    out.note("bad-entry", Severity.ERROR, found.error, origin)
                    continue
                if found.port:
                    out.note(
                        "ignored-port",
                        Severity.INFO,
                        f"port :{found.port} after {found.text} ignored",
                        origin,
                    )
                if found.note:
                    out.note("notation", Severity.INFO, found.note, origin)
                out.add_text(found.text, origin)  # an invalid address-like word is a bad entry
            if not items:
                shown = raw.strip()
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                out.note("ignored-line", Severity.INFO, f"no address in {shown!r}", origin)
        return out.result(data)
