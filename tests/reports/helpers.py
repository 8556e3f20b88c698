"""AuditResults for report tests, built with the real readers and the real core."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from auditor import audit
from auditor.allowlists import ReadContext, reader_for
from auditor.model import (
    AuditOptions,
    AuditResult,
    Completeness,
    Entries,
    RangeSet,
    Role,
    SourceInfo,
)
from auditor.runmeta import RunMeta

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "reports"
SCHEMA = ROOT / "data" / "report.schema.json"

# Sources carry the time they were read; fixing it makes whole reports byte-stable.
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)

# The run a report comes from, fixed for the same reason: a run's own varies (version, host,
# start, duration); reports made by the command are compared after :func:`without_meta`.
META = RunMeta(
    version="0.0.0-test",
    command=("auditor", "diff", "-e", "nodes.txt", "-d", "allow.yaml", "--scope", "mail"),
    host="build-host",
    started="2024-05-01T12:00:00Z",
    duration_s=1.5,
)

_META_SECTIONS = (
    re.compile(r'\n  "meta": (?:null|\{\n(?:    .*\n)*?  \}),'),  # json: a top-level key
    re.compile(r"\n## Run\n\n(?:- .*\n)+"),  # md: the last section
    re.compile(r'<section id="run">\n.*?</section>\n', re.S),  # html
    re.compile(r'<li><a href="#run">Run</a></li>'),  # html: its link
)


def without_meta(text: str) -> str:
    """A report without the run's metadata (version, command line, host, start, duration),
    which changes from run to run: what stays is the same for the same inputs."""
    for section in _META_SECTIONS:
        text = section.sub("", text)
    return text


def load(
    name: str, role: Role, data: str | bytes, fmt: str = "text", *, lenient: bool = False
) -> RangeSet:
    raw = data.encode() if isinstance(data, str) else data
    return reader_for(fmt).parse(raw, ReadContext(name, role, lenient=lenient, now=NOW))


def compare(
    expected: Sequence[RangeSet], declared: Sequence[RangeSet], **options: object
) -> AuditResult:
    return audit.compare(expected, declared, AuditOptions(**options))  # type: ignore[arg-type]


NODES = """\
# provider mail nodes
192.0.2.0/24
198.51.100.7
203.0.113.0/25
203.0.113.200-203.0.113.203
2001:db8:10::/48
2001:db8:20::1
"""

MORE_NODES = "192.0.2.128/25\n"

ALLOW = """\
mail:
  - 203.0.113.0/26
  - 198.51.100.7
  - 198.18.0.0/24
  - 2001:db8:20::1
other:
  - 10.0.0.0/7
  - 192.0.2.77/32
  - 203.0.113.200/31
  - 100.64.0.1/24
"""

Case = Callable[[], AuditResult]

RULES = (("iptables", "-A INPUT -s 192.0.2.0/26 -p tcp -m tcp --dport 25 -j ACCEPT\n"),)


def small_case() -> AuditResult:
    """Drift with every section filled: missing with two origins, partial, extra, over-broad,
    a host-bits finding, IPv4 and IPv6."""
    return compare(
        [load("nodes.txt", "expected", NODES), load("more-nodes.txt", "expected", MORE_NODES)],
        [load("allow.yaml", "declared", ALLOW, "yaml")],
        scope=("mail",),
    )


def in_sync_case() -> AuditResult:
    return compare(
        [load("nodes.txt", "expected", "192.0.2.0/24\n")],
        [load("allow.txt", "declared", "192.0.2.0/23\n")],
    )


def partial_source_case() -> AuditResult:
    """A declared list with a line that cannot be read: the run is incomplete."""
    return compare(
        [load("nodes.txt", "expected", "192.0.2.0/24\n")],
        [load("allow.txt", "declared", "192.0.2.0/24\nnot-an-address\n")],
    )


def failed(name: str, role: Role) -> RangeSet:
    """A source that could not be read, kept as the command line keeps it."""
    return RangeSet(
        SourceInfo(name, role, "unknown"),
        Entries(name),
        Completeness.FAILED,
        (f"{name}: no such file",),
    )


def failed_declared_case() -> AuditResult:
    """One declared source read, one failed: what it would allow is unknown."""
    return compare(
        [load("nodes.txt", "expected", NODES)],
        [load("allow.yaml", "declared", ALLOW, "yaml"), failed("gone.txt", "declared")],
    )


# What failed_declared_case() has not shown allowed, and why.
UNVERIFIED_CIDRS = "11 CIDRs (IPv4: 10 CIDRs, 321 addresses; IPv6: 1 CIDR, 2^80 addresses)"
UNVERIFIED = "not shown allowed (unverified: declared source gone.txt failed)"


def failed_expected_case() -> AuditResult:
    """An expected source failed: what the others expect is still known to be missing."""
    return compare(
        [load("nodes.txt", "expected", NODES), failed("gone.txt", "expected")],
        [load("allow.yaml", "declared", ALLOW, "yaml")],
    )


# Names a feed, a file system or a YAML key can carry, aimed at each output format.
HOSTILE_NAMES = (
    "pipe|name.txt",
    "two\nlines.txt",
    "<script>alert(1)</script>.txt",
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/","click")',
    "-all",
    "+ip4:192.0.2.1",
    "@SUM(1+1)",
    "`tick`s.txt",
    "\x1b[31mred.txt",
    "rtl\u202etxt.exe",
    "tab\tand\rcr",
    "[link](http://evil.example/) *bold* @admin",
    "[bold red]rich markup[/]",
)


def hostile_case() -> AuditResult:
    """One expected source per hostile name, each with a missing address and a finding."""
    expected = [
        load(name, "expected", f"192.0.2.{i}\n-all\n", lenient=True)
        for i, name in enumerate(HOSTILE_NAMES, 1)
    ]
    declared = [load("=allow|list\n.txt", "declared", "198.51.100.0/24\n")]
    return compare(expected, declared)
