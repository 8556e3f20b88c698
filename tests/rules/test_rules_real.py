"""The generated rules, checked and loaded by the real iptables and nft in a network namespace.

Needs root and the Debian packages iptables and nftables; each test skips with the reason
otherwise. Nothing is loaded outside the namespace the test creates.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.ipspace import IPSpace
from auditor.model import MissingBlock, Origin
from auditor.rules import RuleOptions
from auditor.rules.iptables import IptablesGenerator
from auditor.rules.nftables import NftablesGenerator, chain_name

from .helpers import (
    Netns,
    block,
    create_netns,
    edge_blocks,
    hostile_blocks,
    nft_elements,
    nft_set_elements,
    option,
    options,
    require_tool,
    restore_rules,
    small_blocks,
)

IPT = IptablesGenerator()
NFT = NftablesGenerator()


def random_blocks(seed: int = 7, count: int = 100) -> list[MissingBlock]:
    """Many disjoint blocks of both families, from a fixed seed."""
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        family = rng.choice((4, 6))
        bits = 32 if family == 4 else 128
        first = rng.getrandbits(bits)
        items.append((family, first, min(first + rng.getrandbits(rng.randint(0, 12)), 2**bits - 1)))
    cidrs = IPSpace.from_intervals(items).cidrs()
    return [MissingBlock(f, n, p, (Origin(f"feed-{n % 97}.json", n % 1000),)) for f, n, p in cidrs]


CASES: dict[str, tuple[Callable[[], list[MissingBlock]], str]] = {
    "small": (small_blocks, "tcp/25,465,587"),
    "hostile": (hostile_blocks, "tcp/25"),
    "edges-any": (edge_blocks, "any"),
    "many-ports": (small_blocks, "udp/" + ",".join(f"{p}-{p + 1}" for p in range(1000, 1060, 3))),
    "random": (random_blocks, "tcp/25"),
}

# --- iptables ------------------------------------------------------------------------------------

BACKENDS = {"default": "", "legacy": "-legacy"}


def _tool(family: int, backend: str, kind: str) -> str:
    base = "iptables" if family == 4 else "ip6tables"
    return f"{base}{BACKENDS[backend]}{kind}"


def _usable(ns: Netns, family: int, backend: str) -> str:
    """The restore tool of this backend, after checking it works at all here."""
    restore = _tool(family, backend, "-restore")
    require_tool(restore)
    probe = ns.run([restore, "--test", "--noflush"], stdin="*filter\nCOMMIT\n")
    if probe.returncode != 0:
        pytest.skip(f"{restore} does not work in this environment: {probe.stderr.strip()}")
    return restore


def _saved_rules(ns: Netns, family: int, backend: str, chain: str) -> list[list[str]]:
    saved = ns.run([_tool(family, backend, "-save"), "-t", "filter"], check=True)
    return [r for r in restore_rules(saved.stdout) if r[:2] == ["-A", chain]]


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("case", list(CASES))
def test_iptables_restore_accepts_and_loads_the_files(
    netns: Netns, case: str, family: int, backend: str
) -> None:
    """--test first, as the header says; then a real load, which checks more than --test does
    (iptables-nft-restore 1.8.9 --test does not notice a chain that does not exist)."""
    make, service = CASES[case]
    restore = _usable(netns, family, backend)
    text = IPT.render_files(make(), options(service))[family]
    result = netns.run([restore, "--test", "--noflush"], stdin=text)
    assert result.returncode == 0, result.stderr
    result = netns.run([restore, "--noflush"], stdin=text)
    assert result.returncode == 0, result.stderr
    assert len(_saved_rules(netns, family, backend, "INPUT")) == len(restore_rules(text))


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("family", [4, 6])
def test_loaded_rules_are_the_generated_ones_ahead_of_a_drop(
    netns: Netns, family: int, backend: str
) -> None:
    restore = _usable(netns, family, backend)
    program = _tool(family, backend, "")
    netns.run([program, "-A", "INPUT", "-p", "tcp", "--dport", "25", "-j", "DROP"], check=True)
    blocks = hostile_blocks() + small_blocks()
    opts = options("tcp/25,465")
    text = IPT.render_files(blocks, opts)[family]
    netns.run([restore, "--noflush"], stdin=text, check=True)

    loaded = _saved_rules(netns, family, backend, "INPUT")
    assert loaded[-1][-2:] == ["-j", "DROP"], "the DROP that was there must stay last"
    generated = sorted((option(r, "-s"), option(r, "--comment")) for r in restore_rules(text))
    got = sorted((option(r, "-s"), option(r, "--comment")) for r in loaded[:-1])
    assert got == generated  # iptables neither cut nor changed a comment
    assert max(len((c or "").encode()) for _, c in got) == IPT.max_comment_len


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_custom_chain_keeps_its_rules(netns: Netns, backend: str) -> None:
    restore = _usable(netns, 4, backend)
    program = _tool(4, backend, "")
    text = IPT.render_files(small_blocks(), options(chain="MAIL-IN"))[4]

    missing = netns.run([restore, "--noflush"], stdin=text)
    assert missing.returncode != 0, "a chain that does not exist must fail loudly"
    assert _saved_rules(netns, 4, backend, "INPUT") == []

    netns.run([program, "-N", "MAIL-IN"], check=True)
    netns.run([program, "-A", "MAIL-IN", "-s", "203.0.113.0/24", "-j", "ACCEPT"], check=True)
    netns.run([restore, "--noflush"], stdin=text, check=True)
    loaded = _saved_rules(netns, 4, backend, "MAIL-IN")
    assert ["-A", "MAIL-IN", "-s", "203.0.113.0/24", "-j", "ACCEPT"] in loaded
    assert len(loaded) == 1 + len(restore_rules(text))


@pytest.mark.parametrize("family", [4, 6])
def test_shell_commands_run_as_written(netns: Netns, family: int) -> None:
    _usable(netns, family, "default")
    bash = require_tool("bash")
    blocks = hostile_blocks()
    opts = options("tcp/25")
    script = IPT.render_commands(blocks, opts)[family]
    result = netns.run([bash, "-e", "-c", script])
    assert result.returncode == 0, result.stderr
    loaded = _saved_rules(netns, family, "default", "INPUT")
    expected = restore_rules(IPT.render_files(blocks, opts)[family])
    assert sorted((option(r, "-s"), option(r, "--comment")) for r in loaded) == sorted(
        (option(r, "-s"), option(r, "--comment")) for r in expected
    )


# --- nftables ------------------------------------------------------------------------------------

BASE_RULESET = """\
table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tiif "lo" accept
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t}
\tchain MAIL-IN {
\t}
}
"""
"""What Debian's /etc/nftables.conf sets up, with a drop policy and a chain of the admin's own."""


def _nft(ns: Netns, tmp_path: Path, text: str, *flags: str) -> tuple[int, str]:
    path = tmp_path / "rules.nft"
    path.write_text(text)
    result = ns.run(["nft", *flags, "-f", str(path)])
    return result.returncode, result.stderr


def _with_base(ns: Netns, tmp_path: Path) -> None:
    require_tool("nft")
    rc, err = _nft(ns, tmp_path, BASE_RULESET)
    assert rc == 0, err


def _options(case: str, chain: str = "INPUT") -> tuple[list[MissingBlock], RuleOptions]:
    make, service = CASES[case]
    return make(), options(service, chain)


@pytest.mark.parametrize("chain", ["INPUT", "FORWARD", "MAIL-IN"])
@pytest.mark.parametrize("case", list(CASES))
def test_nft_check_accepts_the_file(netns: Netns, tmp_path: Path, case: str, chain: str) -> None:
    _with_base(netns, tmp_path)
    blocks, opts = _options(case, chain)
    rc, err = _nft(netns, tmp_path, NFT.render(blocks, opts), "-c")
    assert rc == 0, err


def test_nft_loads_the_sets_and_rules_and_loading_again_keeps_the_sets(
    netns: Netns, tmp_path: Path
) -> None:
    _with_base(netns, tmp_path)
    blocks, opts = _options("hostile")
    blocks += small_blocks()
    text = NFT.render(blocks, opts)
    for _ in range(2):
        rc, err = _nft(netns, tmp_path, text)
        assert rc == 0, err
    generated = nft_elements(text)
    assert len(generated) == 2
    for name, elements in generated.items():
        assert sorted(nft_set_elements(netns, name)) == sorted(elements)
    longest = max(len((c or "").encode()) for items in generated.values() for _, c in items)
    assert longest == NFT.max_comment_len

    listed = netns.run(["nft", "list", "chain", "inet", "filter", "input"], check=True).stdout
    assert "policy drop;" in listed
    rules = [line.strip() for line in listed.splitlines() if "saddr @auditor_" in line]
    assert len(rules) == 4  # two families, loaded twice: documented in the file's header
    assert listed.index("saddr @auditor_") < listed.index('iif "lo" accept')


def test_nft_without_the_chain_rejects_the_file_and_changes_nothing(
    netns: Netns, tmp_path: Path
) -> None:
    require_tool("nft")
    blocks, opts = _options("small")
    rc, _ = _nft(netns, tmp_path, NFT.render(blocks, opts), "-c")
    assert rc != 0
    rc, _ = _nft(netns, tmp_path, NFT.render(blocks, opts))
    assert rc != 0
    assert netns.run(["nft", "list", "ruleset"], check=True).stdout.strip() == ""


def test_nft_rejects_a_file_with_one_comment_over_128_bytes(netns: Netns, tmp_path: Path) -> None:
    """Why the cap matters: one long comment and nft loads none of the file."""
    _with_base(netns, tmp_path)
    blocks, opts = _options("small")
    text = NFT.render(blocks, opts)
    rc, err = _nft(netns, tmp_path, text, "-c")
    assert rc == 0, err
    bad = text.replace('comment "nodes.txt:3"', 'comment "' + "x" * 129 + '"')
    assert bad != text
    rc, _ = _nft(netns, tmp_path, bad, "-c")
    assert rc != 0


def test_nft_chain_names_the_generator_accepts_really_work(netns: Netns, tmp_path: Path) -> None:
    _with_base(netns, tmp_path)
    names = ["mail_in", "Mail-In", "a" * 31, "inputs", "tcp-in", "filter", "x"]
    setup = "".join(f"add chain inet filter {n}\n" for n in names)
    rc, err = _nft(netns, tmp_path, setup)
    assert rc == 0, err
    for name in names:
        NFT.check(options(chain=name))
        text = NFT.render(small_blocks(), options(chain=name))
        rc, err = _nft(netns, tmp_path, text, "-c")
        assert rc == 0, f"{name}: {err}"
        assert f"insert rule inet filter {chain_name(name)} " in text


def test_nft_keywords_are_refused_because_nft_refuses_them(netns: Netns, tmp_path: Path) -> None:
    """A sample of the list, so that it stays true for the nft that CI installs."""
    require_tool("nft")
    for word in ["tcp", "accept", "counter", "log", "meta", "ct", "limit", "ip6"]:
        text = f"add table inet t\nadd chain inet t {word}\n"
        text += f"insert rule inet t {word} ip saddr 192.0.2.0/24 accept\n"
        rc, _ = _nft(netns, tmp_path, text, "-c")
        assert rc != 0, word


def test_nft_a_range_widened_between_two_runs_still_loads(netns: Netns, tmp_path: Path) -> None:
    """Without auto-merge the second file would overlap the first and nft would reject it all."""
    _with_base(netns, tmp_path)
    first = NFT.render([block("192.0.2.0/24", Origin("run1.txt", 1))], options())
    second = NFT.render(
        [block("192.0.2.0/23", Origin("run2.txt", 1)), block("192.0.2.128/25")], options()
    )
    for text in (first, second):
        rc, err = _nft(netns, tmp_path, text)
        assert rc == 0, err
    assert [c for c, _ in nft_set_elements(netns, "auditor_v4_tcp_25")] == ["192.0.2.0/23"]


def test_without_root_the_real_tests_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        create_netns()
