"""Formats that are recognised but not read: firewall and router configurations, pf rulesets,
``iptables -L`` output, geofeeds and other CSV tables, XML and HTML documents.

A file that would otherwise be read as a plain list (by its suffix, or because no reader
claimed it) is refused with what it looks like and what to give instead, rather than with one
parse error per line (or, in lenient mode, with whatever addresses happen to be in it: the
masks, NAT pools and denied sources of a firewall configuration are not an allowlist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How much of the file is looked at.
HEAD = 65536

_LIST_HINT = (
    "auditor does not read it; give the sources it allows as a text list, one address or CIDR"
    " per line"
)


@dataclass(frozen=True)
class Foreign:
    """What a file looks like, where that shows, and what to give instead."""

    what: str
    line: int | None
    hint: str
    lenient_reads_it: bool = False
    """True for tables whose cells --lenient reads correctly (a CSV, a geofeed)."""


@dataclass(frozen=True)
class _Kind:
    what: str
    markers: re.Pattern[str]
    hint: str


def _lines(*patterns: str) -> re.Pattern[str]:
    """Any of the patterns, each matched at the start of a line (after indentation)."""
    return re.compile(r"(?m)^[ \t]*(?:" + "|".join(patterns) + ")")


def _top(*patterns: str) -> re.Pattern[str]:
    """Any of the patterns, each matched at the very start of a line (``set`` commands: an
    indented ``set`` is inside a FortiOS block)."""
    return re.compile(r"(?m)^(?:" + "|".join(patterns) + ")")


# The kind whose marker comes first in the file wins. Every marker is a keyword a list line
# (an address, CIDR or range, or a # or ; comment) cannot start with.
_KINDS = (
    _Kind(
        "`iptables -L` output",
        _lines(
            r"Chain \S+ \((?:policy (?:ACCEPT|DROP)|\d+ references)",
            r"target\s+prot\s+opt\s+source",
            r"pkts\s+bytes\s+target\s+prot",
        ),
        "give `iptables-save` output instead, and `ip6tables-save` for IPv6: `iptables -L`"
        " leaves out the interfaces and matches that decide",
    ),
    _Kind(
        "a PAN-OS configuration",
        _top(
            r"set (?:deviceconfig|address|address-group|rulebase|shared|vsys|config devices"
            r"|zone|tag|network|service|service-group|application|device-group|template"
            r"|mgt-config|import|profiles)\b",
            r"deviceconfig\s*\{",
            r"show config (?:merged|running|candidate)",
        ),
        "read it with --format panos (the XML, set or brace form of show config running)",
    ),
    _Kind(
        "PAN-OS `show running security-policy` output",
        _top(r'"[^"\n]*"\s*\{\s*\n\s*from\s', r"[\w.-]+\s*\{\s*\n\s*from\s"),
        "auditor reads the configuration, not this listing (it leaves out the address objects"
        " and services by name): give `show config running` (XML, or after `set cli"
        " config-output-format set`) with --format panos",
    ),
    _Kind(
        "JunOS operational output (`show security policies` or `show firewall`)",
        _top(r"From zone: \S+, To zone: \S+", r"Filter: \S+\s*\n\s*Counters:"),
        "give the configuration instead: `show configuration | display set` (read as junos)",
    ),
    _Kind(
        "a FortiOS (FortiGate) configuration",
        _lines(r"config (?:firewall|system|router|vpn|user|log|webfilter|antivirus)\b"),
        "the fortios reader reads a FortiGate configuration whose first line opens a config"
        " block: remove the lines before it (a console prompt), or give --format fortios",
    ),
    _Kind(
        "the output of `show access-lists` (Cisco IOS, NX-OS)",
        _lines(
            r"(?:Standard|Extended|Reflexive) IP access list\s",
            r"IP(?:v6)? access list\s",
            r"(?:Network|Service) object group\s",
        ),
        "give the running configuration (show running-config) with --format ios: the output"
        " of show access-lists leaves out which interface each list filters",
    ),
    _Kind(
        "`show access-list` output of a Cisco ASA",
        _lines(r"access-list \S+(?:; \d+ elements| line \d+ (?:extended|standard|remark)\s)"),
        "give the configuration instead: `show running-config` (or the saved one) holds the"
        " access lists in order with their objects and access-group lines; read it with"
        " --format asa",
    ),
    _Kind(
        "a Cisco configuration or access list (ASA, IOS, NX-OS, IOS XR) or an Arista EOS one",
        _lines(
            r"ASA Version\s",
            r": Saved\s*$",
            r"access-list \S+(?:; \d+ elements| line \d+ )",
            r"object(?:-group)? (?:network|service|ip)\s",
            r"network-object\s",
            r"(?:object|subnet) \S+ \d+\.\d+\.\d+\.\d+ \d+\.\d+\.\d+\.\d+\s*$",
            r"(?:no )?ip(?:v4|v6)? access-list\s",
            r"(?:ethernet-services|mac) access-list\s",
            r"access-list \S+ (?:extended|standard|webtype|ethertype|permit|deny|remark)\s",
            r"ip prefix-list\s",
            r"Building configuration\.\.\.",
            r"Current configuration : \d+",
            r"(?:no )?service (?:nagle|pad|timestamps|password-encryption|tcp-keepalives)",
            r"banner (?:exec|motd|login)\s",
            r"router (?:bgp|ospf|eigrp|rip|isis)\b",
        ),
        "read a Cisco configuration with --format asa (ASA) or --format ios (IOS, IOS XE,"
        " IOS XR, NX-OS); an Arista EOS one is not read: " + _LIST_HINT,
    ),
    _Kind(
        "a pf ruleset (pf.conf)",
        _lines(
            r"(?:pass|block|match)(?:\s+(?:in|out|quick|log|return|drop))*\s+"
            r"(?:quick\s+)?(?:on|inet6?|proto|from|all)\b",
            r"table\s+<[^>\s]+>",
            r"(?:set (?:skip|block-policy|limit)|scrub|antispoof)\s",
        ),
        "auditor does not read pf rulesets; list a table's addresses with"
        " `pfctl -t NAME -T show` and give that list",
    ),
)

_XML_DECL = re.compile(r"\A(?:<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>|\s)*", re.DOTALL)
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")

_XML_ROOTS = {
    "config": ("a PAN-OS configuration (XML)", "read it with --format panos"),
    "response": ("a PAN-OS API response (XML)", "read it with --format panos"),
    "azurepublicipaddresses": (
        "the legacy Azure PublicIPs XML",
        "it is no longer published; use the azure provider with the Service Tags JSON"
        ", such as azure:from=ServiceTags_Public_20250101.json",
    ),
}

_GEOFEED = re.compile(r"[0-9A-Fa-f:.]+/[0-9]+[ \t]*,[ \t]*(?:[A-Za-z]{2})?[ \t]*,")
_CELL_ADDRESS = re.compile(
    # bounded: an address is at most 45 characters, and unbounded runs over the same
    # characters would make one long line take quadratic time
    r"(?:^|,)\s*\"?[0-9A-Fa-f:.]{0,44}[0-9][.:][0-9A-Fa-f:.]{1,44}(?:/[0-9]+)?\"?\s*(?:,|$)"
)


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for the lines that are neither blank nor # or ; comments."""
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            out.append((n, stripped))
    return out


def _markup(text: str) -> Foreign | None:
    start = _XML_DECL.match(text)
    skipped = start.end() if start else 0
    rest = text[skipped:]
    if not rest.startswith("<"):
        return None
    m = _ROOT.match(rest)
    if m is None and not rest.startswith(("<?", "<!")):
        return None  # "<" and no element, declaration or comment: not markup
    root = m.group(1).lower() if m else ""
    line = text[:skipped].count("\n") + 1
    if root in ("html", "head", "body") or text[:1024].lower().find("<!doctype html") >= 0:
        return Foreign(
            "an HTML page",
            line,
            "save the list itself, not the web page; or copy the page's text into a file and"
            " read it with --lenient",
        )
    if root in _XML_ROOTS:
        what, hint = _XML_ROOTS[root]
        return Foreign(what, line, hint)
    return Foreign(
        f"an XML document (<{root}>)" if root else "an XML document",
        line,
        "the only XML auditor reads is a firewalld zone or policy; give the addresses as a"
        " text list, one per line",
    )


def _table(lines: list[tuple[int, str]]) -> Foreign | None:
    """A geofeed (RFC 8805) or another comma-separated table with addresses in its cells."""
    # a trailing comment may hold commas (192.0.2.1 # relay, primary): a list, not a table
    rows = [(n, re.split(r"[#;]", row, maxsplit=1)[0].strip()) for n, row in lines[:50]]
    if not rows or rows[0][1].startswith(("{", "[", '"')) or not all("," in r for _, r in rows):
        return None
    hint = (
        "read it with --lenient, which takes the address, CIDR or range in each row and"
        " ignores the other columns"
    )
    if sum(bool(_GEOFEED.match(row)) for _, row in rows) * 2 > len(rows):
        return Foreign("a geofeed (RFC 8805 CSV)", rows[0][0], hint, lenient_reads_it=True)
    if any(_CELL_ADDRESS.search(row) for _, row in rows):
        return Foreign("a CSV table", rows[0][0], hint, lenient_reads_it=True)
    return None


def recognise(data: bytes) -> Foreign | None:
    """What the file looks like when it is a known format that no reader reads, else None.
    Binary data (NUL bytes) is none of them, whatever its first byte happens to be: the text
    reader says it is not a text file. (Bytes that are not UTF-8 alone do not make it binary:
    a configuration saved in Latin-1 is still recognised.)"""
    head = data[:HEAD]
    if b"\0" in head:
        return None
    text = head.decode("utf-8", "replace").removeprefix("\ufeff")
    found = _markup(text)
    if found is not None:
        return found
    first: tuple[int, _Kind] | None = None
    for kind in _KINDS:
        m = kind.markers.search(text)
        if m is not None and (first is None or m.start() < first[0]):
            first = (m.start(), kind)
    if first is not None:
        at, kind = first
        return Foreign(kind.what, text[:at].count("\n") + 1, kind.hint)
    return _table(_content_lines(text))
