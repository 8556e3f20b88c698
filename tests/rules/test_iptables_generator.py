"""The iptables generator without the real iptables: golden output, structure, hostile input."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

from auditor.errors import UsageError
from auditor.model import Origin
from auditor.rules import GENERATORS, generator_for
from auditor.rules.iptables import MULTIPORT_MAX, IptablesGenerator, port_matches
from auditor.service import Service

from .helpers import (
    GOLDEN,
    IDEMPOTENT,
    block,
    cidrs_of,
    command_rules,
    edge_blocks,
    hostile_blocks,
    option,
    options,
    restore_rules,
    restore_sources,
    small_blocks,
    sort_cidrs,
)

GEN = IptablesGenerator()


def test_registered_under_its_name() -> None:
    assert GENERATORS["iptables"] is IptablesGenerator
    assert isinstance(generator_for("iptables"), IptablesGenerator)


@pytest.mark.parametrize(
    ("name", "service", "chain"),
    [("iptables-small.txt", "tcp/25,465,587", "INPUT"), ("iptables-any.txt", "any", "MAIL-IN")],
)
def test_golden(name: str, service: str, chain: str) -> None:
    """Byte for byte. AUDITOR_UPDATE_GOLDEN=1 rewrites the files."""
    text = GEN.render(small_blocks(), options(service, chain))
    path = GOLDEN / name
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    assert text == path.read_bytes().decode()


def test_every_cidr_once_per_family_and_nothing_else() -> None:
    blocks = small_blocks() + edge_blocks()
    opts = options("tcp/25")
    files = GEN.render_files(blocks, opts)
    scripts = GEN.render_commands(blocks, opts)
    assert list(files) == [4, 6] and list(scripts) == [4, 6]
    for family in (4, 6):
        want = cidrs_of(blocks, family)
        assert restore_sources(files[family]) == want
        from_commands = [option(argv, "-s") for argv in command_rules(scripts[family])]
        assert from_commands == want
        assert all(
            argv[0] == ("iptables" if family == 4 else "ip6tables")
            for argv in command_rules(scripts[family])
        )


def test_restore_file_structure() -> None:
    text = GEN.render_files(small_blocks(), options("tcp/25"))[4]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body[0] == "*filter" and body[-1] == "COMMIT"
    assert all(line.startswith("-I INPUT -s ") for line in body[1:-1])
    assert "--noflush" in text


def test_family_sections_only_for_families_with_blocks() -> None:
    v4_only = [b for b in small_blocks() if b.family == 4]
    v6_only = [b for b in small_blocks() if b.family == 6]
    assert list(GEN.render_files(v4_only, options())) == [4]
    assert list(GEN.render_files(v6_only, options())) == [6]
    assert "ip6tables" not in GEN.render(v4_only, options())
    text = GEN.render(v6_only, options())
    assert "ip6tables-restore" in text
    assert "\niptables " not in text and "file for iptables-restore" not in text


def test_nothing_missing_says_so() -> None:
    text = GEN.render([], options())
    assert text.startswith("#") and "nothing is missing" in text
    assert all(line.startswith("#") for line in text.splitlines())
    assert GEN.render_files([], options()) == {}


def test_output_is_deterministic_whatever_the_input_order() -> None:
    blocks = small_blocks() + edge_blocks()
    assert GEN.render(blocks, options()) == GEN.render(list(reversed(blocks)), options())


def test_sections_can_be_copied_separately() -> None:
    text = GEN.render(small_blocks(), options())
    sections = text.split("\n\n")
    assert len(sections) == 4
    files = GEN.render_files(small_blocks(), options())
    scripts = GEN.render_commands(small_blocks(), options())
    for section, expected in zip(sections, [*files.values(), *scripts.values()], strict=True):
        banner, _, rest = section.partition("\n")
        assert banner.startswith("# =====")
        assert rest.rstrip("\n") == expected.rstrip("\n")


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("tcp/25", [("-p", "tcp", "-m", "tcp", "--dport", "25")]),
        ("udp/1024-2048", [("-p", "udp", "-m", "udp", "--dport", "1024:2048")]),
        ("tcp/25,465,587", [("-p", "tcp", "-m", "multiport", "--dports", "25,465,587")]),
        ("tcp/25,1000-1010", [("-p", "tcp", "-m", "multiport", "--dports", "25,1000:1010")]),
        ("any", [()]),
    ],
)
def test_port_matches(service: str, expected: list[tuple[str, ...]]) -> None:
    assert port_matches(Service.parse(service)) == expected


def _cost(ports: str) -> int:
    return sum(2 if ":" in p else 1 for p in ports.split(","))


@pytest.mark.parametrize(
    "spec",
    [
        ",".join(str(p) for p in range(1, 16)),  # exactly 15 ports: one rule
        ",".join(str(p) for p in range(1, 17)),  # 16: two rules
        ",".join(f"{p}-{p + 1}" for p in range(100, 140, 3)),  # ranges count two
        "1,3-4,6,8-9,11,13-14,16,18-19,21,23-24,26,28-29,31,33-34,36",
    ],
)
def test_multiport_is_split_at_fifteen_ports_with_ranges_counting_two(spec: str) -> None:
    service = Service.parse(f"tcp/{spec}")
    matches = port_matches(service)
    covered = []
    for match in matches:
        ports = match[-1]
        assert _cost(ports) <= MULTIPORT_MAX
        if "--dport" in match:
            assert "," not in ports
        covered += [p.replace(":", "-") for p in ports.split(",")]
    assert ",".join(covered) == service.port_list()
    minimal = -(-sum(1 if a == b else 2 for a, b in service.ports) // MULTIPORT_MAX)
    assert len(matches) in (minimal, minimal + 1)
    rules = restore_rules(GEN.render_files([block("192.0.2.0/24")], options(f"tcp/{spec}"))[4])
    assert len(rules) == len(matches)


def test_any_service_has_no_protocol_or_port() -> None:
    rules = restore_rules(GEN.render_files(small_blocks(), options("any"))[4])
    for argv in rules:
        assert "-p" not in argv and "--dport" not in argv and "--dports" not in argv


def test_custom_chain_is_used_and_not_declared() -> None:
    text = GEN.render_files(small_blocks(), options(chain="MAIL-IN"))[4]
    assert ":MAIL-IN" not in text
    assert all(argv[:2] == ["-I", "MAIL-IN"] for argv in restore_rules(text))
    assert "must exist" in text


def test_comment_names_the_origins() -> None:
    rules = restore_rules(GEN.render_files(small_blocks(), options())[4])
    comments = {option(r, "-s"): option(r, "--comment") for r in rules}
    assert comments == {
        "192.0.2.0/24": "allowlist-auditor nodes.txt:3",
        "198.51.100.7/32": "allowlist-auditor nodes.txt:4, spf:_spf.example.com",
    }


def test_a_block_without_origins_still_gets_the_tag() -> None:
    rules = restore_rules(GEN.render_files([block("192.0.2.0/24")], options())[4])
    assert option(rules[0], "--comment") == "allowlist-auditor"


def test_an_empty_comment_is_left_out() -> None:
    """iptables-restore rejects ``--comment ""`` [aerleon lib/iptables.py]."""

    class Untagged(IptablesGenerator):
        comment_tag = ""

    blocks = [block("192.0.2.0/24", Origin("\n\r\u2028", None)), block("192.0.2.4/30")]
    text = Untagged().render_files(blocks, options())[4]
    assert "comment" not in text
    assert restore_rules(text)[0] == [
        "-I",
        "INPUT",
        "-s",
        "192.0.2.0/24",
        "-p",
        "tcp",
        "-m",
        "tcp",
        "--dport",
        "25",
        "-j",
        "ACCEPT",
    ]


def test_hostile_origins_cannot_add_lines_or_break_quoting() -> None:
    blocks = hostile_blocks()
    opts = options("tcp/25,465")
    files = GEN.render_files(blocks, opts)
    scripts = GEN.render_commands(blocks, opts)
    for family in (4, 6):
        want = cidrs_of(blocks, family)
        text = files[family]
        lines = text.splitlines()
        rules = [line for line in lines if not line.startswith("#")]
        assert rules[0] == "*filter" and rules[-1] == "COMMIT"
        assert len(rules) - 2 == len(want)  # one rule per block: no injected line
        assert sort_cidrs(restore_sources(text)) == want
        for argv in restore_rules(text):
            note = option(argv, "--comment")
            assert note is not None
            assert len(note.encode()) <= GEN.max_comment_len
            assert note.isascii() and note.isprintable()
            assert not set(note) & set("\"'\\`$;#\x00")
            assert argv[-2:] == ["-j", "ACCEPT"]
        assert text.isascii()
        assert all(line.isprintable() for line in lines)
        commands = command_rules(scripts[family])
        assert len(commands) == len(want)
        assert [option(a, "-s") for a in commands] == want


def test_shell_commands_parse_with_bash_and_round_trip() -> None:
    script = "\n".join(GEN.render_commands(hostile_blocks(), options("tcp/25")).values())
    for line in script.splitlines():
        if line.startswith("#"):
            continue
        for part in line.split(IDEMPOTENT):
            assert shlex.join(shlex.split(part)) == part
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    checked = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    "chain",
    [
        "INPUT; rm -rf /",
        "A" * 29,
        "",
        "-INPUT",
        "!INPUT",
        "1NPUT",
        "IN PUT",
        "IN\nPUT",
        'INPUT"',
        "INPÜT",
        "ACCEPT",
        "DROP",
        "RETURN",
        "QUEUE",
        "OUTPUT",
    ],
)
def test_check_rejects_a_chain_iptables_cannot_take(chain: str) -> None:
    with pytest.raises(UsageError):
        GEN.check(options(chain=chain))
    with pytest.raises(UsageError):
        GEN.render(small_blocks(), options(chain=chain))


@pytest.mark.parametrize(
    "chain", ["INPUT", "FORWARD", "MAIL-IN", "DOCKER-USER", "f2b-postfix", "_x", "A" * 28]
)
def test_check_accepts_usual_chain_names(chain: str) -> None:
    GEN.check(options(chain=chain))


def test_capabilities() -> None:
    assert GEN.families == (4, 6)
    assert GEN.max_comment_len == 255
    assert GEN.max_name_len == 28
