"""Shared by the rule-generator tests: blocks, hostile origins, parsers for the output, and a
network namespace in which the real iptables and nft check what the generators wrote."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor import ipspace
from auditor.model import MissingBlock, Origin
from auditor.rules import RuleOptions
from auditor.service import Service

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "rules"


def block(cidr: str, *origins: Origin) -> MissingBlock:
    parsed = ipspace.parse(cidr)
    assert parsed.prefixlen is not None and not parsed.host_bits, cidr
    return MissingBlock(parsed.family, parsed.first, parsed.prefixlen, origins)


def options(service: str = "tcp/25", chain: str = "INPUT") -> RuleOptions:
    return RuleOptions(service=Service.parse(service), chain=chain)


def small_blocks() -> list[MissingBlock]:
    """The case of the golden files: two IPv4 blocks (one from two lines), one IPv6 block."""
    return [
        block("2001:db8:1::/48", Origin("nodes.txt", 7)),
        block("198.51.100.7/32", Origin("nodes.txt", 4), Origin("spf:_spf.example.com", None)),
        block("192.0.2.0/24", Origin("nodes.txt", 3)),
    ]


# RELIABILITY.md section 3: every payload, plus a multibyte character at each platform's cut.
HOSTILE_SOURCES = (
    '"',
    "'",
    "\n",
    "\r",
    ";",
    "$(id)",
    "`id`",
    "#",
    "\x00",
    "\u2028",
    "\u202e",
    "\u2018\u2019\u201c\u201d",
    "x" * 1000,
    'nodes.txt"\n-A INPUT -j ACCEPT\n#',
    "feed\r\nCOMMIT\n*nat\n-A PREROUTING -j DNAT --to 203.0.113.1",
    'a" ; flush ruleset ; add rule inet filter input accept comment "',
    "x\u2028insert rule inet filter input accept",
    "tab\there\x0bvt\x0cff\x85nel\x1csep",
    "\\",
    "\\n",
    "{ } | & < > * ? ! %",
    "a" * 110 + "\u00e9" * 40,  # two-byte characters across nft's 128 bytes
    "a" * 236 + "\u20ac" * 40,  # three-byte characters across iptables' 255 bytes
    "\U0001f600" * 100,
)


def hostile_blocks() -> list[MissingBlock]:
    """One block per hostile source, and one block carrying all of them at once."""
    # Neither adjacent to each other nor to small_blocks(), so that nft's auto-merge keeps
    # every element as it was written and a loaded set can be compared element by element.
    nets = [f"198.18.{2 * i}.0/24" for i in range(len(HOSTILE_SOURCES))]
    nets6 = [f"2001:db8:{i + 1:x}00::/56" for i in range(len(HOSTILE_SOURCES))]
    out = [
        block(net, Origin(src, 1, src))
        for net, src in zip(nets + nets6, HOSTILE_SOURCES * 2, strict=True)
    ]
    everything = tuple(Origin(src, i) for i, src in enumerate(HOSTILE_SOURCES))
    out.append(block("203.0.113.0/24", *everything))
    return out


def edge_blocks() -> list[MissingBlock]:
    """The extremes of both families: host routes at the ends of the space, and big networks."""
    return [
        block("0.0.0.0/32", Origin("edge.txt", 1)),
        block("255.255.255.255/32", Origin("edge.txt", 2)),
        block("10.0.0.0/8", Origin("edge.txt", 3)),
        block("::/128", Origin("edge.txt", 4)),
        block("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", Origin("edge.txt", 5)),
        block("2001:db8:8000::/33", Origin("edge.txt", 6)),
    ]


# --- reading the output back -------------------------------------------------------------------


def restore_rules(text: str) -> list[list[str]]:
    """The rule lines of an iptables-restore file, split as iptables-restore splits them.

    Generated comments hold no backslash or single quote, so shlex agrees with iptables-restore
    on them; a line that does not split cleanly fails the test.
    """
    rules = []
    for line in text.splitlines():
        if line.startswith("-"):
            rules.append(shlex.split(line))
    return rules


IDEMPOTENT = " 2>/dev/null || "


def command_rules(script: str) -> list[list[str]]:
    """The rule each command line adds. A line ``CHECK 2>/dev/null || INSERT`` must check for
    exactly the rule it inserts (``-C`` where the insert has ``-I``, the same arguments)."""
    out = []
    for line in script.splitlines():
        if not line or line.startswith("#"):
            continue
        if IDEMPOTENT in line:
            check_text, insert_text = line.split(IDEMPOTENT)
            check, insert = shlex.split(check_text), shlex.split(insert_text)
            i = insert.index("-I")
            assert check == [*insert[:i], "-C", *insert[i + 1 :]], line
            out.append(insert)
        else:
            out.append(shlex.split(line))
    return out


def option(argv: Sequence[str], name: str) -> str | None:
    """The value after ``name`` in an argument list (``-s``, ``--comment``), or None."""
    for i, arg in enumerate(argv[:-1]):
        if arg == name:
            return argv[i + 1]
    return None


def restore_sources(text: str) -> list[str]:
    return [s for s in (option(r, "-s") for r in restore_rules(text)) if s is not None]


_ELEMENT_BLOCK = re.compile(r"^add element inet filter (\S+) \{\n(.*?)\n\}$", re.M | re.S)
_ELEMENT = re.compile(r'\t([0-9a-f.:]+/[0-9]+)(?: comment "([^"\n]*)")?,?')


def nft_elements(text: str) -> dict[str, list[tuple[str, str | None]]]:
    """Set name -> (CIDR, comment) for every element of every ``add element`` statement."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for m in _ELEMENT_BLOCK.finditer(text):
        for line in m.group(2).split("\n"):
            em = _ELEMENT.fullmatch(line)
            assert em is not None, f"unexpected element line {line!r}"
            out.setdefault(m.group(1), []).append((em.group(1), em.group(2)))
    return out


def cidrs_of(blocks: Iterable[MissingBlock], family: int) -> list[str]:
    return sorted((b.cidr for b in blocks if b.family == family), key=_cidr_key)


def _cidr_key(cidr: str) -> tuple[int, int, int]:
    p = ipspace.parse(cidr)
    return (p.family, p.first, p.prefixlen or 0)


def sort_cidrs(cidrs: Iterable[str]) -> list[str]:
    return sorted(cidrs, key=_cidr_key)


# --- the real tools, in a network namespace ----------------------------------------------------


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install iptables nftables)")
    return path


@dataclass(frozen=True)
class Netns:
    """A network namespace of its own, so that nothing the tests load touches the host."""

    name: str

    def run(
        self, argv: Sequence[str], stdin: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
        return result


def create_netns() -> Netns:
    if os.geteuid() != 0:
        pytest.skip("needs root: validating rules creates a network namespace (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's ip is not installed")
    name = f"auditor-test-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    return Netns(name)


def delete_netns(ns: Netns) -> None:
    subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True, check=False)


def nft_set_elements(ns: Netns, name: str) -> list[tuple[str, str | None]]:
    """(CIDR, comment) of every element of a loaded set, read back with ``nft -j``."""
    listed = ns.run(["nft", "-j", "list", "set", "inet", "filter", name], check=True)
    out = []
    for item in json.loads(listed.stdout)["nftables"]:
        if "set" not in item:
            continue
        family = 6 if item["set"]["type"] == "ipv6_addr" else 4
        for elem in item["set"].get("elem", []):
            note = None
            if isinstance(elem, dict) and "elem" in elem:
                note = elem["elem"].get("comment")
                elem = elem["elem"]["val"]
            if isinstance(elem, str):
                cidr = f"{elem}/{32 if family == 4 else 128}"
            elif "range" in elem:
                cidr = "-".join(elem["range"])
            else:
                cidr = f"{elem['prefix']['addr']}/{elem['prefix']['len']}"
            out.append((cidr, note))
    return out
