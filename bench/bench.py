"""Benchmark ``auditor diff`` against netaddr and the standard library on random CIDR sets.

Run from the repository root::

    python bench/bench.py                          # 1k, 10k, 100k and 1M entries per side
    python bench/bench.py --sizes 1000,10000,100000 --repeat 5 --json bench/out/figures.json

See bench/README.md for what is measured and how the peers work.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import gc
import ipaddress
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out"
DEFAULT_SIZES = "1000,10000,100000,1000000"
DEFAULT_SEED = 20240601
# Bump when the generator changes so that cached files are not reused.
GENERATOR_VERSION = 2

V4_SHARE = 0.8
DECLARED_RATIO = 1.3  # the declared side has 1.3 entries for each expected one
COPY_SHARE = 0.6  # of N: declared entries copied verbatim from expected
NEAR_SHARE = 0.1  # of N: declared entries that are a supernet or subnet of an expected entry
# The rest of the declared side (0.6 N) is fresh random entries.

# IPv6 prefix lengths for the 80 % that are not /128: (length, weight).
V6_PREFIXES = ((32, 2), (36, 3), (40, 5), (44, 10), (48, 30), (52, 5), (56, 20), (60, 5), (64, 20))
# First octets never used for IPv4 (this network, RFC 1918 10/8, loopback, multicast, reserved).
V4_EXCLUDED_FIRST_OCTETS = {0, 10, 127} | set(range(224, 256))

PEER_SLOW_SECONDS = 60.0
LARGE = 1_000_000

# (name, size, kind, limit); kinds: e2e and help in seconds, rss in MiB, vs_netaddr a minimum
# speed-up, vs_iprange a maximum ratio to the C tool measured in the same run.
TARGETS = (
    ("1M e2e <= 2.2x FireHOL iprange (same run)", 1_000_000, "vs_iprange", 2.2),
    ("1M peak RSS < 400 MiB", 1_000_000, "rss", 400.0),
    ("100k >= 15x faster than netaddr IPSet", 100_000, "vs_netaddr", 15.0),
    ("10k e2e < 0.12 s", 10_000, "e2e", 0.12),
    ("auditor --help < 60 ms", None, "help", 0.060),
)
# A stage is flagged when its time grows more than this much faster than its input from one
# size to the next (n log n from 100k to 1M is about 12x for 10x the data).
STAGE_GROWTH_SLACK = 1.3


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- data generation


def _v4_family(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random IPv4 networks: 50 % /32, 35 % /24-/29, 15 % /16-/23 (uint64 arrays)."""
    kind = rng.random(n)
    plen = np.where(
        kind < 0.50,
        32,
        np.where(kind < 0.85, rng.integers(24, 30, n), rng.integers(16, 24, n)),
    ).astype(np.uint64)
    octets = np.array(sorted(set(range(1, 224)) - V4_EXCLUDED_FIRST_OCTETS), dtype=np.uint64)
    first = rng.choice(octets, n)
    rest = rng.integers(0, 1 << 24, n, dtype=np.uint64)
    addr = (first << np.uint64(24)) | rest
    return _mask_v4(addr, plen), plen


def _mask_v4(addr: np.ndarray, plen: np.ndarray) -> np.ndarray:
    host = (np.uint64(1) << (np.uint64(32) - plen)) - np.uint64(1)
    return addr & ~host & np.uint64(0xFFFFFFFF)


def _mask(value: int, plen: int, bits: int) -> int:
    shift = bits - plen
    return value >> shift << shift


def _v6_family(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """``n`` random IPv6 networks in 2000::/3 under a pool of provider /32s.

    80 % have a length from V6_PREFIXES (mostly /44-/64), 20 % are /128. The provider pool
    (about one /32 per 20 entries) makes some entries nest inside others.
    """
    if n == 0:
        return []
    pool_size = max(64, n // 20)
    pool = (rng.integers(0, 1 << 29, pool_size, dtype=np.uint64) | np.uint64(1 << 29)).tolist()
    lengths = np.array([p for p, _ in V6_PREFIXES])
    weights = np.array([w for _, w in V6_PREFIXES], dtype=float)
    plen = np.where(
        rng.random(n) < 0.2, 128, rng.choice(lengths, n, p=weights / weights.sum())
    ).tolist()
    top = rng.choice(np.array(pool, dtype=np.uint64), n).tolist()
    mid = rng.integers(0, 1 << 32, n, dtype=np.uint64).tolist()
    low = rng.integers(0, 1 << 63, n, dtype=np.uint64).tolist()
    low2 = rng.integers(0, 2, n).tolist()
    out = []
    for t, m, lo, lo2, p in zip(top, mid, low, low2, plen, strict=True):
        value = (t << 96) | (m << 64) | (lo2 << 63) | lo
        out.append((_mask(value, p, 128), p))
    return out


def _near_v4(
    rng: np.random.Generator, net: np.ndarray, plen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Half supernets (1-4 bits shorter, not below /12), half subnets (1-4 bits longer)."""
    n = len(net)
    step = rng.integers(1, 5, n).astype(np.uint64)
    wider = rng.random(n) < 0.5
    signed = plen.astype(np.int64)
    new_plen = np.where(
        wider,
        np.maximum(12, signed - step.astype(np.int64)),
        np.minimum(32, signed + step.astype(np.int64)),
    ).astype(np.uint64)
    old_host = (np.uint64(1) << (np.uint64(32) - plen)) - np.uint64(1)
    inside = net | (rng.integers(0, 1 << 32, n, dtype=np.uint64) & old_host)
    return _mask_v4(inside, new_plen), new_plen


def _near_v6(rng: np.random.Generator, items: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    steps = rng.integers(1, 5, len(items)).tolist()
    wider = (rng.random(len(items)) < 0.5).tolist()
    hi = rng.integers(0, 1 << 63, len(items), dtype=np.uint64).tolist()
    lo = rng.integers(0, 1 << 63, len(items), dtype=np.uint64).tolist()
    for (net, p), step, w, h, low in zip(items, steps, wider, hi, lo, strict=True):
        if w:
            q = max(32, p - step)
            out.append((_mask(net, q, 128), q))
        else:
            q = min(128, p + step)
            inside = net | (((h << 64) | low) & ((1 << (128 - p)) - 1))
            out.append((_mask(inside, q, 128), q))
    return out


def _format_v4(net: np.ndarray, plen: np.ndarray) -> list[str]:
    a = (net >> np.uint64(24)).tolist()
    b = ((net >> np.uint64(16)) & np.uint64(255)).tolist()
    c = ((net >> np.uint64(8)) & np.uint64(255)).tolist()
    d = (net & np.uint64(255)).tolist()
    return [f"{w}.{x}.{y}.{z}/{p}" for w, x, y, z, p in zip(a, b, c, d, plen.tolist(), strict=True)]


def _format_v6(items: Iterable[tuple[int, int]]) -> list[str]:
    return [f"{ipaddress.IPv6Address(net)}/{p}" for net, p in items]


def generate(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` expected and ``DECLARED_RATIO * n`` declared lines, shuffled so that the
    families are mixed."""
    rng = np.random.default_rng([seed, n])
    n4 = round(n * V4_SHARE)
    n6 = n - n4

    e4_net, e4_plen = _v4_family(rng, n4)
    e6 = _v6_family(rng, n6)

    def split(count: int) -> tuple[np.ndarray, np.ndarray, int]:
        order = rng.permutation(count)
        n_copy = round(count * COPY_SHARE)
        n_near = round(count * NEAR_SHARE)
        n_fresh = round(count * DECLARED_RATIO) - n_copy - n_near
        return order[:n_copy], order[n_copy : n_copy + n_near], n_fresh

    copy4, near4, fresh4 = split(n4)
    f4_net, f4_plen = _v4_family(rng, fresh4)
    n4_net, n4_plen = _near_v4(rng, e4_net[near4], e4_plen[near4])
    d4_net = np.concatenate((e4_net[copy4], n4_net, f4_net))
    d4_plen = np.concatenate((e4_plen[copy4], n4_plen, f4_plen))

    copy6, near6, fresh6 = split(n6)
    d6 = (
        [e6[i] for i in copy6.tolist()]
        + _near_v6(rng, [e6[i] for i in near6.tolist()])
        + _v6_family(rng, fresh6)
    )

    expected = _format_v4(e4_net, e4_plen) + _format_v6(e6)
    declared = _format_v4(d4_net, d4_plen) + _format_v6(d6)
    expected = [expected[i] for i in rng.permutation(len(expected)).tolist()]
    declared = [declared[i] for i in rng.permutation(len(declared)).tolist()]
    return expected, declared


def _write_atomic(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(tmp, path)


def dataset(out: Path, n: int, seed: int) -> tuple[Path, Path]:
    """The cached files for size ``n`` and ``seed``, generated on first use."""
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    key = f"{n}-s{seed}-g{GENERATOR_VERSION}"
    exp = data_dir / f"expected-{key}.txt"
    dec = data_dir / f"declared-{key}.txt"
    if not (exp.exists() and dec.exists()):
        t0 = time.perf_counter()
        expected, declared = generate(n, seed)
        _write_atomic(exp, expected)
        _write_atomic(dec, declared)
        log(f"  generated {exp.name} and {dec.name} in {time.perf_counter() - t0:.1f} s")
    return exp, dec


# --------------------------------------------------------------------------- measurements


def auditor_command() -> list[str]:
    """The installed console script next to this interpreter (no shim), else ``-m auditor``.
    With AUDITOR_BENCH_MODULE=1, always ``python -m auditor``: the package found on the path,
    e.g. a checkout given with PYTHONPATH, to measure two trees with the same script."""
    if os.environ.get("AUDITOR_BENCH_MODULE") == "1":
        return [sys.executable, "-m", "auditor"]
    beside = Path(sys.executable).parent / "auditor"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("auditor")
    if found:
        return [found]
    return [sys.executable, "-m", "auditor"]


# The child is started by a small launcher process, which times it and reads its resource
# usage. Started straight from this process, the child's peak RSS would include this
# process's own: Linux carries the old address space's high-water mark across exec, and the
# benchmark itself grows to hundreds of MiB while it runs the in-process peers. The launcher's
# own mark (about 10 MiB) is the floor of every figure; it matters only for the smallest runs.
_LAUNCHER = """
import os, subprocess, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
try:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
except OSError as exc:
    sys.stderr.write(f"{cmd[0]}: {exc}\\n")
    wall, status, maxrss = time.perf_counter() - t0, 127 << 8, 0
else:
    _, status, ru = os.wait4(proc.pid, 0)
    wall, maxrss = time.perf_counter() - t0, ru.ru_maxrss
with open(result, "w") as out:
    out.write(f"{wall!r} {maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(cmd: list[str], stdout_path: Path | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``; return wall seconds (start to exit), its own peak RSS (MiB), exit code and
    stderr. A launcher measures both (see ``_LAUNCHER``), so neither includes this process."""
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(tempfile.TemporaryFile())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out: Any = subprocess.DEVNULL
        if stdout_path is not None:
            out = stack.enter_context(stdout_path.open("wb"))
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(tmp / "result"), *cmd]
        done = subprocess.run(launcher, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        if done.returncode != 0 and not (tmp / "result").exists():
            raise SystemExit(f"benchmark launcher failed for {cmd[0]}:\n{stderr}")
        wall_s, rss_s, code_s = (tmp / "result").read_text().split()
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return float(wall_s), int(rss_s) * scale / (1024 * 1024), int(code_s), stderr


def time_in_process(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``fn`` over ``repeat`` runs, all times, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def library_missing(exp: Path, dec: Path) -> list[str]:
    """Read both files, compare, and produce the missing CIDRs as text: the library path."""
    from auditor import audit
    from auditor.allowlists import ReadContext
    from auditor.sources import files

    expected = files.load(str(exp), ReadContext(str(exp), "expected"))
    declared = files.load(str(dec), ReadContext(str(dec), "declared"))
    result = audit.compare([expected], [declared])
    return list(result.missing.cidrs_text())


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").split()


def netaddr_missing(exp: Path, dec: Path) -> list[str]:
    """netaddr: an IPSet per side from the lines, difference, iter_cidrs, str each."""
    from netaddr import IPSet

    expected = IPSet(_lines(exp))
    declared = IPSet(_lines(dec))
    return [str(cidr) for cidr in (expected - declared).iter_cidrs()]


def _merged_intervals(nets: Iterable[Any]) -> list[tuple[int, int]]:
    """Collapsed networks (sorted) as integer intervals, adjacent ones merged."""
    out: list[tuple[int, int]] = []
    for net in nets:
        first = int(net.network_address)
        last = int(net.broadcast_address)
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def _subtract(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``a - b`` for sorted, disjoint, non-adjacent interval lists: one linear sweep."""
    out = []
    j = 0
    for first, last in a:
        while j < len(b) and b[j][1] < first:
            j += 1
        start = first
        k = j
        while k < len(b) and b[k][0] <= last:
            if b[k][0] > start:
                out.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            if start > last:
                break
            k += 1
        if start <= last:
            out.append((start, last))
    return out


def ipaddress_missing(exp: Path, dec: Path) -> list[str]:
    """Standard library only: ip_network per line, collapse_addresses per side and family,
    then a sorted sweep over integer intervals and summarize_address_range for the output."""
    sides = []
    for path in (exp, dec):
        v4, v6 = [], []
        for line in _lines(path):
            net = ipaddress.ip_network(line)
            (v4 if net.version == 4 else v6).append(net)
        sides.append((v4, v6))
    out = []
    for family, cls in ((0, ipaddress.IPv4Address), (1, ipaddress.IPv6Address)):
        a = _merged_intervals(ipaddress.collapse_addresses(sides[0][family]))
        b = _merged_intervals(ipaddress.collapse_addresses(sides[1][family]))
        for first, last in _subtract(a, b):
            out.extend(str(net) for net in ipaddress.summarize_address_range(cls(first), cls(last)))
    return out


def compare_sets(name: str, ref: set[str], other: Iterable[str]) -> tuple[bool, str]:
    got = set(other)
    if got == ref:
        return True, f"{name}: OK"
    # Tell a difference in text form apart from a real difference in the address sets.
    canon_ref = {ipaddress.ip_network(c) for c in ref}
    canon_got = {ipaddress.ip_network(c) for c in got}
    if canon_ref == canon_got:
        return True, f"{name}: OK (same networks, different text form)"
    only_ref = sorted(canon_ref - canon_got, key=str)[:5]
    only_got = sorted(canon_got - canon_ref, key=str)[:5]
    return False, (
        f"{name}: MISMATCH ({len(canon_ref - canon_got)} only in auditor, e.g. "
        f"{[str(x) for x in only_ref]}; {len(canon_got - canon_ref)} only in {name}, e.g. "
        f"{[str(x) for x in only_got]})"
    )


# --------------------------------------------------------------------------- FireHOL iprange

IPRANGE_URL = "https://github.com/firehol/iprange"


def default_iprange_build() -> Path:
    """Where the C peer is built: a cache folder outside the repository."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "allowlist-auditor-bench" / "iprange"


def build_iprange(src: Path, build: Path) -> Path:
    """Build FireHOL iprange from a source checkout with CMake (Release); returns the binary."""
    binary = build / "iprange"
    if binary.exists() and binary.stat().st_mtime >= (src / "CMakeLists.txt").stat().st_mtime:
        return binary
    build.mkdir(parents=True, exist_ok=True)
    log(f"building iprange from {src} in {build}")
    for cmd in (
        ["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
        ["cmake", "--build", str(build), "-j", str(os.cpu_count() or 1)],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"building iprange failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    if not binary.exists():
        raise SystemExit(f"building iprange gave no {binary}")
    return binary


def find_iprange(args: argparse.Namespace) -> Path | None:
    if args.iprange:
        return Path(args.iprange)
    if args.iprange_src:
        return build_iprange(Path(args.iprange_src), Path(args.iprange_build))
    built = Path(args.iprange_build) / "iprange"
    if built.exists():
        return built
    found = shutil.which("iprange")
    return Path(found) if found else None


def iprange_missing_v4(text: str) -> set[str]:
    """iprange prints a /32 as a bare address; as CIDRs, to compare with ours."""
    return {line if "/" in line else f"{line}/32" for line in text.split()}


# --------------------------------------------------------------------------- stages


def stage_times(exp: Path, dec: Path, repeat: int) -> dict[str, float]:
    """Each stage of a diff timed on its own, in-process (median of ``repeat``): reading
    (parsing) each file, normalising each side, the difference, the over-broad and
    whole-family checks, and the minimal CIDRs as text."""
    from auditor import audit
    from auditor.allowlists import ReadContext
    from auditor.model import AuditOptions
    from auditor.sources import files

    runs: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        runs.setdefault(name, []).append(time.perf_counter() - t0)
        return out

    for _ in range(repeat):
        e = timed("read expected", lambda: files.load(str(exp), ReadContext("e", "expected")))
        d = timed("read declared", lambda: files.load(str(dec), ReadContext("d", "declared")))
        es = timed("normalise expected", lambda e=e: e.space)
        ds = timed("normalise declared", lambda d=d: d.space)
        missing = timed("difference", lambda es=es, ds=ds: es - ds)
        timed(
            "over-broad check", lambda d=d, ds=ds: list(audit._over_broad([d], ds, AuditOptions()))
        )
        timed("whole-family check", lambda e=e: list(audit.whole_space_findings([e])))
        timed("CIDRs as text", lambda m=missing: m.cidr_lines())
        del e, d, es, ds, missing
        gc.collect()
    return {name: statistics.median(values) for name, values in runs.items()}


# --------------------------------------------------------------------------- one size


def bench_size(n: int, args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    log(f"size {n}:")
    exp, dec = dataset(args.out, n, args.seed)
    exp_lines, dec_lines = _lines(exp), _lines(dec)
    row: dict[str, Any] = {
        "size": n,
        "expected_file": str(exp),
        "declared_file": str(dec),
        "expected_lines": len(exp_lines),
        "declared_lines": len(dec_lines),
        "expected_v6_lines": sum(1 for x in exp_lines if ":" in x),
    }
    del exp_lines, dec_lines

    diff_cmd = [*cmd, "diff", "--expected", str(exp), "--declared", str(dec), "--output", "cidr"]
    # One untimed run that keeps stdout: warms caches and gives the CLI's answer.
    captured = args.out / f"missing-{n}-s{args.seed}-g{GENERATOR_VERSION}.txt"
    _, _, code, stderr = run_child(diff_cmd, captured)
    if code not in (0, 1):
        raise SystemExit(f"auditor diff failed with exit code {code}:\n{stderr}")
    if stderr.strip():
        log(f"  note: auditor wrote to stderr: {stderr.strip().splitlines()[0]}")
    cli_missing = set(captured.read_text(encoding="ascii").split())
    row["missing_cidrs"] = len(cli_missing)

    walls, rsss = [], []
    for _ in range(args.repeat):
        wall, rss, code, stderr = run_child(diff_cmd)
        if code not in (0, 1):
            raise SystemExit(f"auditor diff failed with exit code {code}:\n{stderr}")
        walls.append(wall)
        rsss.append(rss)
    row["e2e_s"] = statistics.median(walls)
    row["e2e_runs_s"] = walls
    row["peak_rss_mib"] = max(rsss)
    log(f"  auditor diff e2e: median {row['e2e_s']:.3f} s, peak RSS {row['peak_rss_mib']:.0f} MiB")

    library_missing(exp, dec)  # warm-up: imports, numpy
    lib_s, lib_runs, lib_out = time_in_process(lambda: library_missing(exp, dec), args.repeat)
    row["library_s"] = lib_s
    row["library_runs_s"] = lib_runs
    log(f"  library: median {lib_s:.3f} s")

    checks: list[tuple[bool, str]] = [compare_sets("library", cli_missing, lib_out)]
    del lib_out

    row["iprange_s"] = row["iprange6_s"] = None
    if args.iprange_bin is not None:
        ipr = str(args.iprange_bin)
        v4_cmd = [ipr, str(exp), "--except", str(dec)]
        both_cmd = [ipr, "-6", str(exp), "--except", str(dec)]
        captured4 = args.out / f"iprange-{n}-s{args.seed}-g{GENERATOR_VERSION}.txt"
        run_child(v4_cmd, captured4)
        walls, rsss = [], []
        for _ in range(args.repeat):
            wall, rss, _, _ = run_child(v4_cmd)
            walls.append(wall)
            rsss.append(rss)
        row["iprange_s"], row["iprange_rss_mib"] = statistics.median(walls), max(rsss)
        walls = [run_child(both_cmd)[0] for _ in range(args.repeat)]
        row["iprange6_s"] = statistics.median(walls)
        log(
            f"  iprange (IPv4, its default): median {row['iprange_s']:.3f} s, peak RSS "
            f"{row['iprange_rss_mib']:.0f} MiB; iprange -6 (both families): "
            f"{row['iprange6_s']:.3f} s"
        )
        ours_v4 = {c for c in cli_missing if ":" not in c}
        theirs = iprange_missing_v4(captured4.read_text(encoding="ascii"))
        checks.append(compare_sets("iprange (IPv4)", ours_v4, theirs))
    if n in args.stage_sizes:
        row["stages_s"] = stage_times(exp, dec, args.repeat)
        for name, t in row["stages_s"].items():
            log(f"  stage {name}: {t:.3f} s")

    peer_repeat = 1 if n >= LARGE else args.repeat
    row["netaddr_s"] = row["ipaddress_s"] = None
    if args.skip_peers:
        row["netaddr_skipped"] = row["ipaddress_skipped"] = "--skip-peers"
        log("  peers: skipped (--skip-peers)")
    elif n > args.peers_max:
        why = f"size over --peers-max {args.peers_max}"
        row["netaddr_skipped"] = row["ipaddress_skipped"] = why
        log(f"  peers: skipped ({why})")
    else:
        t, runs, out = time_in_process(lambda: netaddr_missing(exp, dec), peer_repeat)
        row["netaddr_s"], row["netaddr_runs_s"] = t, runs
        log(f"  netaddr IPSet: median {t:.3f} s")
        checks.append(compare_sets("netaddr", cli_missing, out))
        del out
        t, runs, out = time_in_process(lambda: ipaddress_missing(exp, dec), peer_repeat)
        row["ipaddress_s"], row["ipaddress_runs_s"] = t, runs
        log(f"  stdlib ipaddress: median {t:.3f} s")
        checks.append(compare_sets("ipaddress", cli_missing, out))
        del out
    gc.collect()
    row["checks"] = [msg for _, msg in checks]
    row["check_ok"] = all(ok for ok, _ in checks)
    for _, msg in checks:
        log(f"  check {msg}")
    return row


def floor_time(runs: int = 5) -> float:
    """The interpreter starting and leaving with nothing to do: what no command can beat."""
    walls = [run_child([sys.executable, "-c", "pass"])[0] for _ in range(runs + 1)][1:]
    return statistics.median(walls)


def help_time(cmd: list[str], runs: int = 5) -> float:
    run_child([*cmd, "--help"])  # warm-up
    walls = []
    for _ in range(runs):
        wall, _, code, stderr = run_child([*cmd, "--help"])
        if code != 0:
            raise SystemExit(f"auditor --help failed with exit code {code}:\n{stderr}")
        walls.append(wall)
    return statistics.median(walls)


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, spec: str = ".3f", missing: str = "skipped") -> str:
    return missing if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def print_report(
    rows: list[dict[str, Any]], help_s: float, floor_s: float
) -> list[tuple[str, str, str]]:
    print()
    print("Data: N expected CIDRs and 1.3 N declared, 80 % IPv4 / 20 % IPv6; declared = 0.6 N")
    print("copied from expected, 0.1 N supernets/subnets of expected entries, 0.6 N fresh random.")
    for r in rows:
        print(
            f"  {_size_label(r['size']):>5}: expected {r['expected_lines']} lines "
            f"({r['expected_v6_lines']} IPv6), declared {r['declared_lines']} lines, "
            f"missing {r['missing_cidrs']} CIDRs"
        )
    print()
    head = (
        f"{'size':>6} {'e2e s':>8} {'RSS MiB':>8} {'lib s':>8} {'netaddr s':>10} "
        f"{'ipaddr s':>9} {'na/e2e':>7} {'ip/e2e':>7} {'na/lib':>7} {'ip/lib':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{_size_label(r['size']):>6} {r['e2e_s']:>8.3f} {r['peak_rss_mib']:>8.0f} "
            f"{r['library_s']:>8.3f} {_fmt(r['netaddr_s']):>10} {_fmt(r['ipaddress_s']):>9} "
            f"{_fmt(_ratio(r['netaddr_s'], r['e2e_s']), '.1f', '-'):>7} "
            f"{_fmt(_ratio(r['ipaddress_s'], r['e2e_s']), '.1f', '-'):>7} "
            f"{_fmt(_ratio(r['netaddr_s'], r['library_s']), '.1f', '-'):>7} "
            f"{_fmt(_ratio(r['ipaddress_s'], r['library_s']), '.1f', '-'):>7}"
        )
    print("(ratios are peer time / auditor time; higher means auditor is faster)")

    if any(r.get("iprange_s") is not None for r in rows):
        print()
        print("FireHOL iprange (C), whole process, same data, same run:")
        head = (
            f"{'size':>6} {'auditor s':>10} {'iprange s':>10} {'ratio':>6} {'RSS MiB':>8} "
            f"{'iprange -6 s':>13} {'ratio':>6}"
        )
        print(head)
        print("-" * len(head))
        for r in rows:
            if r.get("iprange_s") is None:
                continue
            print(
                f"{_size_label(r['size']):>6} {r['e2e_s']:>10.3f} {r['iprange_s']:>10.3f} "
                f"{r['e2e_s'] / r['iprange_s']:>6.2f} {r['iprange_rss_mib']:>8.0f} "
                f"{r['iprange6_s']:>13.3f} {r['e2e_s'] / r['iprange6_s']:>6.2f}"
            )
        print("(ratio = auditor / iprange, lower is better. iprange by default reads IPv4 only and")
        print(" drops the IPv6 lines; -6 reads both, IPv4 as mapped IPv6. auditor reads both.)")

    staged = [r for r in rows if r.get("stages_s")]
    if staged:
        print()
        print("Stages, in-process (median s); growth = time ratio over size ratio (1 = linear):")
        names = list(staged[0]["stages_s"])
        head = f"{'stage':<20}" + "".join(f"{_size_label(r['size']):>9}" for r in staged)
        if len(staged) > 1:
            head += f"{'growth':>8}"
        print(head)
        print("-" * len(head))
        for name in names:
            line = f"{name:<20}" + "".join(f"{r['stages_s'][name]:>9.3f}" for r in staged)
            if len(staged) > 1:
                a, b = staged[-2], staged[-1]
                growth = (b["stages_s"][name] / max(a["stages_s"][name], 1e-6)) / (
                    b["size"] / a["size"]
                )
                flag = "" if growth <= STAGE_GROWTH_SLACK or b["stages_s"][name] < 0.01 else " !"
                line += f"{growth:>8.2f}{flag}"
            print(line)

    if len(rows) > 1:
        print()
        print("Scaling between successive sizes (time ratio vs size ratio; equal = linear):")
        print(f"{'sizes':>12} {'size x':>7} {'e2e x':>7} {'lib x':>7}")
        for a, b in zip(rows, rows[1:], strict=False):
            label = f"{_size_label(a['size'])}->{_size_label(b['size'])}"
            print(
                f"{label:>12} {b['size'] / a['size']:>7.1f} "
                f"{b['e2e_s'] / a['e2e_s']:>7.2f} {b['library_s'] / a['library_s']:>7.2f}"
            )

    print()
    print(f"auditor --help: median {help_s * 1000:.0f} ms (5 runs); the interpreter alone")
    print(f"(python -c pass): {floor_s * 1000:.0f} ms")
    print()
    print("Targets:")
    by_size = {r["size"]: r for r in rows}
    verdicts = []
    for name, size, kind, limit in TARGETS:
        if kind == "help":
            value: float | None = help_s
            shown = f"{help_s:.3f} s"
        elif size not in by_size:
            verdicts.append((name, "n/a", "size not run"))
            continue
        elif kind == "e2e":
            value = by_size[size]["e2e_s"]
            shown = f"{value:.3f} s"
        elif kind == "rss":
            value = by_size[size]["peak_rss_mib"]
            shown = f"{value:.0f} MiB"
        elif kind == "vs_iprange":
            value = _ratio(by_size[size]["e2e_s"], by_size[size].get("iprange_s"))
            if value is None:
                verdicts.append((name, "n/a", "iprange not built (--iprange-src)"))
                continue
            ours, theirs = by_size[size]["e2e_s"], by_size[size]["iprange_s"]
            shown = f"{value:.2f}x ({ours:.3f} s vs {theirs:.3f} s)"
        else:  # vs_netaddr: the e2e time of the CLI against netaddr's in-process time
            value = _ratio(by_size[size]["netaddr_s"], by_size[size]["e2e_s"])
            if value is None:
                verdicts.append((name, "n/a", "netaddr skipped"))
                continue
            shown = f"{value:.1f}x (e2e vs in-process netaddr)"
        if kind == "vs_netaddr":
            ok = value >= limit
        elif kind == "vs_iprange":
            ok = value <= limit
        else:
            ok = value < limit
        verdicts.append((name, "PASS" if ok else "MISS", shown))
    for name, verdict, shown in verdicts:
        print(f"  {verdict:<4}  {name:<46} {shown}")

    print()
    print("Cross-check (missing CIDRs of the auditor CLI vs each other implementation):")
    for r in rows:
        print(f"  {_size_label(r['size']):>5}: " + "; ".join(r["checks"]))
    return verdicts


# --------------------------------------------------------------------------- main


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = 1
    if text.endswith("k"):
        mult, text = 1000, text[:-1]
    elif text.endswith("m"):
        mult, text = 1_000_000, text[:-1]
    value = int(text) * mult
    if value < 10:
        raise argparse.ArgumentTypeError(f"size {value} is too small")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated entries per side, k/M suffixes allowed (default {DEFAULT_SIZES})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="data and output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--skip-peers", action="store_true", help="do not run netaddr/ipaddress")
    parser.add_argument(
        "--peers-max",
        type=parse_size,
        default=100_000,
        help="largest size the peers (netaddr, ipaddress) run at; default 100k, since at 1M "
        f"each takes well over {PEER_SLOW_SECONDS:.0f} s",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    parser.add_argument("--iprange", metavar="BIN", help="a built FireHOL iprange binary")
    parser.add_argument(
        "--iprange-src",
        metavar="DIR",
        help=f"a checkout of {IPRANGE_URL} to build with CMake (once) and compare with",
    )
    parser.add_argument(
        "--iprange-build",
        default=str(default_iprange_build()),
        metavar="DIR",
        help="where iprange is built and looked for (default: %(default)s)",
    )
    parser.add_argument(
        "--stage-sizes",
        default="100k,1M",
        help="sizes at which each stage is timed on its own (default 100k,1M)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    except (ValueError, argparse.ArgumentTypeError) as e:
        parser.error(f"--sizes: {e}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        args.stage_sizes = {parse_size(x) for x in args.stage_sizes.split(",") if x.strip()}
    except (ValueError, argparse.ArgumentTypeError) as e:
        parser.error(f"--stage-sizes: {e}")
    args.iprange_bin = find_iprange(args)
    if args.iprange_bin is None:
        log(f"iprange: not found; build it with --iprange-src DIR (a checkout of {IPRANGE_URL})")
    else:
        log(f"iprange: {args.iprange_bin}")

    cmd = auditor_command()
    log(f"auditor command: {' '.join(cmd)}")
    # An installed package has its bytecode compiled by pip; a source checkout (an editable
    # install) may not, and PYTHONDONTWRITEBYTECODE keeps it so. Compile it as pip would.
    import auditor

    compileall.compile_dir(str(Path(auditor.__file__).parent), quiet=1)
    rows = [bench_size(n, args, cmd) for n in sizes]
    help_s = help_time(cmd)
    floor_s = floor_time()
    verdicts = print_report(rows, help_s, floor_s)

    ok = all(r["check_ok"] for r in rows)
    if args.json:
        import netaddr

        figures = {
            "environment": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "numpy": np.__version__,
                "netaddr": netaddr.__version__,
                "auditor_command": cmd,
            },
            "seed": args.seed,
            "repeat": args.repeat,
            "generator_version": GENERATOR_VERSION,
            "help_s": help_s,
            "interpreter_s": floor_s,
            "iprange": str(args.iprange_bin) if args.iprange_bin else None,
            "sizes": rows,
            "targets": [{"target": t, "verdict": v, "value": s} for t, v, s in verdicts],
            "cross_check_ok": ok,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        log(f"figures saved to {args.json}")
    if not ok:
        print("\nMISMATCH: the implementations disagree on the missing CIDRs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
