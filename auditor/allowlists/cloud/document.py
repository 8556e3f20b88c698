"""Reading of the cloud firewall JSON exports, shared by every cloud reader.

Rule origins are the JSON path of the rule (``SecurityGroups[0].IpPermissions[1].IpRanges[0]``)
with the rule written out; the JSON must not repeat a key or hold NaN/Infinity, and a number out
of range (a port, a priority, a rule number) is an error naming its path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError, address_findings, decode_text
from auditor.allowlists.lists.json_list import load_strict
from auditor.errors import AddressError
from auditor.jsonutil import LongNumber
from auditor.model import Finding, Origin
from auditor.sources.base import json_type, looks_like_html

Interval = tuple[int, int]
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# Chain names that mean "nothing chosen" (the CLI's default is INPUT).
_NO_CHOICE = (None, "INPUT")


def load_document(data: bytes, ctx: ReadContext, what: str) -> Any:
    """The export as JSON; an HTML page, duplicate keys, NaN and Infinity are errors."""
    if looks_like_html(data):
        from auditor.sources.foreign import recognise

        found = recognise(data)  # an HTML page, or which XML document
        shown = found.what if found is not None else "an HTML or XML document"
        raise ReaderError(
            f"this is {shown}, not {what}",
            source=ctx.name,
            hint="save the JSON the CLI or the API prints",
        )
    # an integer too long to read stays in place, for Doc to name its path
    return load_strict(decode_text(data, ctx), ctx.name, long_numbers=True)


_MISSING: Any = object()


class Doc:
    """Typed access to a JSON export: every wrong type is an error naming its path."""

    def __init__(self, ctx: ReadContext, what: str) -> None:
        self.ctx = ctx
        self.what = what
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []

    def error(self, message: str, path: str, hint: str | None = None) -> ReaderError:
        where = f"{path}: " if path else ""
        return ReaderError(
            f"{where}{message}",
            source=self.ctx.name,
            hint=hint or f"this does not look like {self.what}",
        )

    def get(
        self, obj: Any, key: str, kind: type | tuple[type, ...], path: str, default: Any = _MISSING
    ) -> Any:
        if not isinstance(obj, dict):
            raise self.error(f"is {json_type(obj)}, expected an object", path)
        where = f"{path}.{key}" if path else key
        if key not in obj or obj[key] is None:
            if default is _MISSING:
                raise self.error(f"missing key {key!r}", path)
            return default
        value = obj[key]
        if isinstance(value, LongNumber):
            raise self.error(
                f"{value} is out of range",
                where,
                "fix this value in the export: ports are 0-65535, priorities and rule numbers "
                "at most 65535",
            )
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(json_type(k()) for k in kinds)
            raise self.error(f"is {json_type(value)}, expected {names}", where)
        return value

    def number(
        self,
        obj: Any,
        key: str,
        path: str,
        bounds: tuple[int, int],
        hint: str,
        default: Any = _MISSING,
    ) -> int:
        """The integer ``obj[key]`` (a priority, a rule number); outside ``bounds`` it is an
        error, with ``hint`` saying what the range is."""
        value: int = self.get(obj, key, int, path, default)
        low, high = bounds
        if not low <= value <= high:
            raise self.error(f"{key} {_number_text(value)} is out of range", f"{path}.{key}", hint)
        return value

    def items(self, obj: Any, key: str, path: str) -> list[tuple[str, Any]]:
        """The elements of an optional array with their paths."""
        values = self.get(obj, key, list, path, [])
        base = f"{path}.{key}" if path else key
        return [(f"{base}[{i}]", v) for i, v in enumerate(values)]

    def origin(self, path: str) -> Origin:
        return Origin(self.ctx.name, None, path)

    def cidr(self, text: Any, path: str) -> tuple[int, Interval]:
        """One address or network (never a range)."""
        if not isinstance(text, str):
            raise self.error(f"is {json_type(text)}, expected an address or network", path)
        try:
            if "-" in text:
                raise AddressError(f"{_shown(text)} is a range, not an address or network")
            parsed = ipspace.parse(text, self.ctx.host_bits)
        except AddressError as e:
            raise self.error(e.message, path, e.hint) from None
        self.findings.extend(address_findings(text, parsed, self.origin(path)))
        return parsed.family, (parsed.first, parsed.last)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _ports_text(ports: tuple[Interval, ...] | None) -> str:
    if ports is None:
        return "all ports"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ports)


def _shown(value: Any) -> str:
    """A value from the export as written, cut short for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_text(value: int) -> str:
    """An integer as written, or its length when it is too long to show."""
    text = str(value) if abs(value) < 10**30 else ""
    return text or f"of {len(str(abs(value)))} digits"


def _port_range(doc: Doc, text: Any, path: str) -> Interval:
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,5}(-[0-9]{1,5})?", text):
        raise doc.error(f"{_shown(text)} is not a port or port range", path)
    lo_s, _, hi_s = text.partition("-")
    lo, hi = int(lo_s), int(hi_s or lo_s)
    if not 0 <= lo <= hi <= 65535:
        raise doc.error(f"{_shown(text)} is not a port range of 0-65535", path)
    return lo, hi


def _choose(chain: str | None) -> list[str] | None:
    if chain in _NO_CHOICE or chain is None:
        return None
    return [c.strip() for c in chain.split(",") if c.strip()]


def _head(data: bytes) -> bytes:
    return data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")


_AZURE_ANY = frozenset({"*", "any", "internet", "0.0.0.0/0"})
_ADDRESSISH = re.compile(r"[0-9a-fA-F:.]+(/[0-9]+)?")


def _to_interval(ctx: ReadContext) -> tuple[int, int] | None:
    if ctx.to is None:
        return None
    fam, value, _ = ipspace.parse_address(ctx.to)
    return fam, value


def _destination_why(doc: Doc, dests: Sequence[str], path: str) -> str | None:
    """None: the rule's destinations hold the server; else why that is not known (or
    ``""`` meaning they certainly do not)."""
    to = _to_interval(doc.ctx)
    unknown = []
    for d in dests:
        if d.lower() in _AZURE_ANY or d.lower() == "virtualnetwork":
            return None
        if _ADDRESSISH.fullmatch(d):
            fam, (a, b) = doc.cidr(d, path)
            if to is None or to[0] != fam:
                unknown.append(d)  # an IPv6 --to says nothing of the IPv4 destination
            elif a <= to[1] <= b:
                return None
        else:
            unknown.append(d)
    if unknown:
        return f"the destination {', '.join(unknown)} may or may not be the server (give --to)"
    return ""
