"""Plain text lists: one address, CIDR or ``a-b`` range per line.

``#`` and ``;`` start comments (whole-line or trailing); a UTF-8 BOM, CRLF line ends, blank
lines and a missing final newline are accepted. In lenient ("paste") mode every address,
CIDR and range is pulled out of arbitrary text such as a table copied from a support portal,
and each line that gave nothing is reported.
"""

from __future__ import annotations

import re

from auditor import ipspace
from auditor.allowlists.base import Collector, ReadContext, Reader, decode_text, register
from auditor.model import RangeSet, Severity

# Candidate tokens in lenient mode: an IPv4 address or CIDR or range, or an IPv6 address or
# CIDR (two colons at least, so that times such as 12:30 are not taken).
_V4_TOKEN = r"[0-9]+(?:\.[0-9]+){3}(?:/[0-9]+)?"  # noqa: S105 - a pattern
_V6_TOKEN = r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:/[0-9]+)?"  # noqa: S105
# A colon may come before a token (``ip4:192.0.2.0/24``, ``IP:203.0.113.5``); after an IPv4
# token it may start a port (``192.0.2.1:25``), which is reported and dropped.
_CANDIDATE = re.compile(
    rf"(?<![\w.])(?:(?P<v4>{_V4_TOKEN}(?:\s*-\s*[0-9]+(?:\.[0-9]+){{3}})?)(?::(?P<port>[0-9]+))?"
    rf"(?![\w.])|{_V6_TOKEN}(?:\s*-\s*{_V6_TOKEN})?(?![\w:]))"
)

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
            if item:
                out.add_text(item, out.origin(lineno))
        return out.result(data)

    def _parse_lenient(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        out = Collector(ctx, "text-lenient")
        for lineno, raw in enumerate(split_lines(text), 1):
            if not raw.strip() or raw.lstrip().startswith(("#", ";")):
                continue
            origin = out.origin(lineno)
            found = 0
            rejected = []
            for m in _CANDIDATE.finditer(raw):
                token = m.group("v4") or m.group(0)
                if m.group("port"):
                    out.note(
                        "ignored-port",
                        Severity.INFO,
                        f"port :{m.group('port')} after {token} ignored",
                        origin,
                    )
                if ":" in token and "::" not in token and token.count(":") < 6:
                    continue  # a time such as 12:30:45, not an IPv6 address (8 groups or ::)
                if " " in token or "\t" in token:
                    token = re.sub(r"\s+", "", token)
                try:
                    parsed = ipspace.parse(token, ctx.host_bits)
                except ipspace.AddressError as e:
                    rejected.append(e.message)
                    continue
                out.add(parsed, token, origin, None)
                found += 1
            if rejected:
                out.note(
                    "ignored-token", Severity.WARNING, "; ".join(rejected) + " (skipped)", origin
                )
            elif not found:
                shown = raw.strip()
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                out.note("ignored-line", Severity.INFO, f"no address in {shown!r}", origin)
        return out.result(data)
