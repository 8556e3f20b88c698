"""Benchmark the reports of ``auditor diff`` when nearly every expected CIDR is missing: text,
json, md and csv (and cidr as the floor) at 100k and 1M missing CIDRs, end to end.

Run from the repository root::

    python bench/bench_reports.py                       # 100k and 1M, 3 runs each, medians
    python bench/bench_reports.py --sizes 100k --repeat 5 --json bench/out/reports.json

The expected list comes from bench/bench.py's generator (80 % IPv4, 20 % IPv6, realistic
prefixes, none shorter than /22) without the entries nested in others, so that N lines give
about N missing CIDRs; the declared list is 2 % of its lines. The files are generated once
into ``<out>/data/``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench as core  # noqa: E402 - the shared helpers of bench/bench.py

# Bump when the data below changes so that cached files are not reused.
GENERATOR_VERSION = 2
DECLARED_SHARE = 0.02
# bench/bench.py's /16-/21 entries would swallow a third of a million /32s at 1M
MIN_V4_PREFIX = 22
OUTPUTS = ("cidr", "text", "json", "md", "csv")
DEFAULT_SIZES = "100k,1M"

TARGETS = (
    ("1M missing, text report, e2e < 4 s", 1_000_000, "text", "s", 4.0),
    ("1M missing, text report, peak RSS < 800 MiB", 1_000_000, "text", "mib", 800.0),
    ("1M missing, -o json, e2e < 4 s", 1_000_000, "json", "s", 4.0),
    ("1M missing, -o json, peak RSS < 800 MiB", 1_000_000, "json", "mib", 800.0),
    ("1M missing, -o md, e2e < 4 s", 1_000_000, "md", "s", 4.0),
    ("1M missing, -o md, peak RSS < 800 MiB", 1_000_000, "md", "mib", 800.0),
    ("1M missing, -o csv, e2e < 4 s", 1_000_000, "csv", "s", 4.0),
    ("1M missing, -o csv, peak RSS < 800 MiB", 1_000_000, "csv", "mib", 800.0),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _outermost_v4(net: np.ndarray, plen: np.ndarray) -> np.ndarray:
    """Indexes of the networks that no other one contains (CIDRs nest or are disjoint)."""
    last = net + (np.uint64(1) << (np.uint64(32) - plen)) - np.uint64(1)
    order = np.lexsort((plen, net))  # by start, the widest first
    reach = np.maximum.accumulate(last[order].astype(np.int64))
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = net[order][1:].astype(np.int64) > reach[:-1]
    return np.sort(order[keep])


def _outermost_v6(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, reach = [], -1
    for net, p in sorted(items, key=lambda item: (item[0], item[1])):
        if net > reach:
            out.append((net, p))
            reach = net + (1 << (128 - p)) - 1
    return out


def generate(n: int, seed: int) -> tuple[list[str], list[str]]:
    """About ``n`` expected lines that do not nest (so about ``n`` missing CIDRs), shuffled,
    and the declared 2 % of them."""
    rng = np.random.default_rng([seed, n, GENERATOR_VERSION])
    n4 = round(n * core.V4_SHARE)
    net, plen = core._v4_family(rng, n4 + n4 // 3)
    wide = plen >= MIN_V4_PREFIX
    net, plen = net[wide], plen[wide]
    keep = _outermost_v4(net, plen)[:n4]
    v6 = _outermost_v6(core._v6_family(rng, (n - n4) * 2))[: n - n4]
    expected = core._format_v4(net[keep], plen[keep]) + core._format_v6(v6)
    expected = [expected[i] for i in rng.permutation(len(expected)).tolist()]
    declared = random.Random(seed).sample(expected, round(len(expected) * DECLARED_SHARE))
    return expected, declared


def dataset(out: Path, n: int, seed: int) -> tuple[Path, Path]:
    """The cached expected and declared files for size ``n``, generated on first use."""
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    key = f"{n}-s{seed}-g{core.GENERATOR_VERSION}.{GENERATOR_VERSION}"
    exp = data_dir / f"reports-expected-{key}.txt"
    dec = data_dir / f"reports-declared-{key}.txt"
    if not (exp.exists() and dec.exists()):
        t0 = time.perf_counter()
        expected, declared = generate(n, seed)
        core._write_atomic(exp, expected)
        core._write_atomic(dec, declared)
        log(f"  generated {exp.name} and {dec.name} in {time.perf_counter() - t0:.1f} s")
    return exp, dec


def bench_size(n: int, args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    log(f"size {n}:")
    exp, dec = dataset(args.out, n, args.seed)
    with exp.open("rb") as fh:
        row: dict[str, Any] = {"size": n, "expected_lines": sum(1 for _ in fh)}
    for output in args.outputs:
        diff = [*cmd, "diff", "-e", str(exp), "-d", str(dec), "-o", output]
        kept = args.out / f"report-{n}-s{args.seed}.{output}"
        walls, rss = [], []
        for _ in range(args.repeat):
            wall, peak, code, err = core.run_child(diff, kept)
            if code != 1:  # drift: anything else means the run did not do what is measured
                raise SystemExit(f"auditor diff -o {output} exited {code}:\n{err}")
            walls.append(wall)
            rss.append(peak)
        row[output] = {"s": statistics.median(walls), "runs_s": walls, "mib": max(rss)}
        row[output]["bytes"] = kept.stat().st_size
        if output == "cidr":
            with kept.open("rb") as fh:
                row["missing_cidrs"] = sum(1 for _ in fh)
        log(f"  -o {output}: median {row[output]['s']:.3f} s, peak RSS {max(rss):.0f} MiB")
    return row


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def print_report(rows: list[dict[str, Any]], outputs: Sequence[str]) -> list[dict[str, Any]]:
    print("auditor diff, nearly everything missing (stdout to a file, process start to exit)")
    for r in rows:
        lines, missing = r["expected_lines"], r["missing_cidrs"]
        print(f"  {_label(r['size'])}: {lines} expected lines, {missing} missing CIDRs")
    print()
    print(f"  {'output':<7}" + "".join(f"{_label(r['size']):>22}" for r in rows))
    for output in outputs:
        cells = "".join(
            f"{r[output]['s']:>10.3f} s {r[output]['mib']:>6.0f} MiB" for r in rows if output in r
        )
        print(f"  {output:<7}{cells}")
    print()
    print("targets")
    verdicts = []
    by_size = {r["size"]: r for r in rows}
    for label, size, output, unit, limit in TARGETS:
        r = by_size.get(size)
        if r is None or output not in r:
            print(f"  n/a  {label}")
            verdicts.append({"target": label, "verdict": "n/a", "value": None})
            continue
        value = r[output][unit]
        verdict = "PASS" if value < limit else "MISS"
        shown = f"{value:.3f} s" if unit == "s" else f"{value:.0f} MiB"
        print(f"  {verdict} {label}: {shown}")
        verdicts.append({"target": label, "verdict": verdict, "value": value})
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"expected lines, k/M allowed ({DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--outputs", default=",".join(OUTPUTS), help=f"reports to run ({','.join(OUTPUTS)})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--out", type=Path, default=core.DEFAULT_OUT, help="data and output")
    parser.add_argument("--seed", type=int, default=core.DEFAULT_SEED, help="random seed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.outputs = [o for o in args.outputs.split(",") if o]
    if "cidr" not in args.outputs:
        args.outputs.insert(0, "cidr")  # it counts the missing CIDRs
    unknown = set(args.outputs) - set(OUTPUTS)
    if unknown:
        parser.error(f"--outputs: unknown {', '.join(sorted(unknown))}")
    try:
        sizes = sorted({core.parse_size(s) for s in args.sizes.split(",") if s.strip()})
    except (ValueError, argparse.ArgumentTypeError) as e:
        parser.error(f"--sizes: {e}")
    args.out.mkdir(parents=True, exist_ok=True)

    import auditor

    compileall.compile_dir(str(Path(auditor.__file__).parent), quiet=1)
    # the package this interpreter imports (a checkout on PYTHONPATH, else the installed one);
    # an installed console script may have been made for another version of the package
    cmd = [sys.executable, "-m", "auditor"]
    log(f"auditor command: {' '.join(cmd)}")
    rows = [bench_size(n, args, cmd) for n in sizes]
    verdicts = print_report(rows, args.outputs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"seed": args.seed, "repeat": args.repeat, "sizes": rows, "targets": verdicts}
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        log(f"figures saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
