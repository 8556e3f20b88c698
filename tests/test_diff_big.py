"""`auditor diff` on inputs big enough for the vectorised path, against the standard library.

The files are over the fast-parser threshold and the sets over the vector threshold, so the
whole numpy pipeline runs: bulk parsing (IPv4 and IPv6), normalisation, 128-bit set
operations and CIDR text. The oracle is plain `ipaddress` on the same lines.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor import ipspace
from auditor.allowlists.lists import text as text_reader
from auditor.cli import app

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def random_lines(rng: random.Random, n: int, pool: list[str]) -> list[str]:
    lines = []
    for _ in range(n):
        roll = rng.random()
        if pool and roll < 0.4:
            lines.append(rng.choice(pool))  # shared with the other side
        elif roll < 0.75:
            plen = rng.choice([32, 32, 31, 30, 28, 24, 22, 16])
            net = ipaddress.IPv4Network((rng.getrandbits(32), plen), strict=False)
            lines.append(str(net))
        else:
            plen = rng.choice([128, 127, 64, 56, 48, 33, 1])
            # a mix of values with long zero runs, both 64-bit halves, and the top of the space
            value = rng.choice(
                [
                    rng.getrandbits(128),
                    (0x20010DB8 << 96) | rng.getrandbits(20),
                    (1 << 64) + rng.getrandbits(8) - 128,
                    (1 << 128) - 1 - rng.getrandbits(10),
                ]
            )
            if value >> 32 == 0xFFFF:
                value ^= 1 << 100  # keep clear of IPv4-mapped space
            if plen == 1:
                # only ::/1: with 8000::/1 as well a side would list every IPv6 address,
                # which the tool refuses as an expected set (RELIABILITY 2.11)
                value &= ~(1 << 127)
            lines.append(str(ipaddress.IPv6Network((value, plen), strict=False)))
    return lines


def oracle_missing(expected: list[str], declared: list[str]) -> set[str]:
    out: set[str] = set()
    for version in (4, 6):
        exp: list[Net] = [n for n in map(ipaddress.ip_network, expected) if n.version == version]
        dec: list[Net] = [n for n in map(ipaddress.ip_network, declared) if n.version == version]
        space = ipspace.IPSpace.from_intervals(
            (version, int(n.network_address), int(n.broadcast_address)) for n in exp
        ) - ipspace.IPSpace.from_intervals(
            (version, int(n.network_address), int(n.broadcast_address)) for n in dec
        )
        for _, first, last in space.intervals():
            cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            out.update(str(n) for n in ipaddress.summarize_address_range(cls(first), cls(last)))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_big_diff_matches_ipaddress(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The oracle runs the pure-Python engine; only the CLI may take the numpy path.
    rng = random.Random(seed)
    expected = random_lines(rng, 30_000, [])
    declared = random_lines(rng, 30_000, expected)
    exp_file = tmp_path / "expected.txt"
    dec_file = tmp_path / "declared.txt"
    exp_file.write_text("\r\n".join(["# feed", *expected]) + "\r\n", encoding="ascii")
    dec_file.write_text("\n".join(declared), encoding="ascii")  # no final newline
    assert exp_file.stat().st_size >= text_reader.VECTOR_BYTES
    with monkeypatch.context() as m:
        m.setattr(ipspace, "VECTOR_THRESHOLD", 10**9)
        want = oracle_missing(expected, declared)
    result = CliRunner().invoke(
        app, ["diff", "-e", str(exp_file), "-d", str(dec_file), "-o", "cidr"]
    )
    got = result.stdout.splitlines()
    assert result.exit_code == 1, result.stderr
    assert set(got) == want
    assert len(got) == len(want)  # minimal: no CIDR twice
    # deterministic order: IPv4 first, then IPv6, numeric
    keys = [(n.version, int(n.network_address)) for n in map(ipaddress.ip_network, got)]
    assert keys == sorted(keys)


def test_big_local_files_read_at_once_say_their_messages_in_order(tmp_path: Path) -> None:
    # Both sides big local files: the declared side is read on a second core. Messages come
    # out as in a run that reads one file after the other (--debug reads them in turn), and
    # the output is the same.
    rng = random.Random(7)
    expected = random_lines(rng, 40_000, [])
    declared = random_lines(rng, 40_000, expected)
    expected[123] = "192.0.2.300"  # one bad line each: an error message from each side
    declared[456] = "198.51.100.0/33"
    (tmp_path / "exp.txt").write_text("\n".join(expected) + "\n", encoding="ascii")
    (tmp_path / "dec.txt").write_text("\n".join(declared) + "\n", encoding="ascii")
    assert (tmp_path / "exp.txt").stat().st_size + (tmp_path / "dec.txt").stat().st_size > 1 << 20
    runs = []
    for extra in ([], ["--debug"]):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "diff",
                "-e",
                "exp.txt",
                "-d",
                "dec.txt",
                "-o",
                "cidr",
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
        runs.append(proc)
    together, one_by_one = runs
    assert together.returncode == one_by_one.returncode == 2  # partial: bad lines
    assert together.stdout == one_by_one.stdout
    lines = together.stderr.splitlines()
    assert lines == one_by_one.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if "exp.txt:124" in line)
    second = next(i for i, line in enumerate(lines) if "dec.txt:457" in line)
    assert first < second
