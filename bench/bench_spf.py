"""Benchmark SPF expansion against a local DNS server that adds a delay to every answer.

Run from the repository root (the test server lives in tests/dnsd.py)::

    python bench/bench_spf.py
    python bench/bench_spf.py --delay 0.05 --repeat 7 --json bench/out/spf.json

Two trees, each expanded in parallel (the default) and with one worker, which resolves the
same names one after another:

- a synthetic tree of 9 includes over three levels of records (the root includes 3 records,
  each of which includes 2 more), every record listing a few ip4:/ip6: ranges: 9 include
  terms (the limit is 10 DNS-querying terms) and 10 TXT lookups in all;
- Google's ``_spf.google.com`` chain as captured in ../shared/corpus/spf/ (skipped when the
  corpus is absent).

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "spf"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import bench as core  # noqa: E402 - the shared helpers of bench/bench.py

TARGET_SECONDS = 0.35
TARGET_RATIO = 3.0


def tree_zone() -> tuple[dict[str, list[tuple[str, object]]], str, int]:
    """The records of the synthetic tree, its root, and its number of includes."""
    records: dict[str, list[tuple[str, object]]] = {}
    includes = 0
    level1 = [f"l1-{i}.spf.example.net" for i in range(3)]
    records["spf.example.net"] = [
        ("TXT", "v=spf1 " + " ".join(f"include:{n}" for n in level1) + " -all")
    ]
    includes += len(level1)
    for i, name in enumerate(level1):
        level2 = [f"l2-{i}-{j}.spf.example.net" for j in range(2)]
        includes += len(level2)
        terms = " ".join(f"include:{n}" for n in level2)
        records[name] = [("TXT", f"v=spf1 ip4:198.51.{i}.0/24 {terms} -all")]
        for j, leaf in enumerate(level2):
            v4 = " ".join(f"ip4:203.{i}.{j}.{k * 16}/28" for k in range(8))
            records[leaf] = [("TXT", f"v=spf1 {v4} ip6:2001:db8:{i}:{j}::/64 -all")]
    return records, "spf.example.net", includes


def time_expansion(port: int, domain: str, workers: int, repeat: int) -> tuple[float, Any]:
    from auditor.spf.options import DnsOptions
    from auditor.spf.result import expand_domain

    options = DnsOptions(f"127.0.0.1:{port}", timeout=2.0, deadline=20.0, workers=workers)
    runs = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = expand_domain(domain, options)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), result


def cli_time(port: int, domain: str, repeat: int) -> float:
    cmd = [*core.auditor_command(), "spf", domain, "--nameserver", f"127.0.0.1:{port}"]
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(server: Any, domain: str, args: argparse.Namespace) -> dict[str, Any]:
    server.reset_log()
    parallel, result = time_expansion(server.port, domain, 16, args.repeat)
    queries = len(server.queries) // args.repeat
    sequential, same = time_expansion(server.port, domain, 1, args.repeat)
    for fam in (4, 6):
        a = sorted(p[:2] for p in result.family(fam).pieces)
        b = sorted(p[:2] for p in same.family(fam).pieces)
        if a != b:
            raise SystemExit("parallel and sequential expansions differ")
    return {
        "domain": domain,
        "records": len(result.records),
        "queries": queries,
        "parallel_s": parallel,
        "sequential_s": sequential,
        "ratio": sequential / parallel,
        "cli_s": cli_time(server.port, domain, args.repeat),
        "cidrs": sum(len(f.pieces) for f in result.families),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added per answer")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    args = parser.parse_args(argv)

    import compileall

    from dnsd import DnsServer, Zone, zone_from_blaze_cache

    import auditor

    compileall.compile_dir(str(Path(auditor.__file__).parent), quiet=1)
    rows = []
    records, root, includes = tree_zone()
    with DnsServer(Zone(records), delay=args.delay) as server:
        row = measure(server, root, args)
        row["name"] = f"synthetic: {includes} includes, 3 levels of records"
        rows.append(row)
    if CORPUS.is_dir():
        with DnsServer(zone_from_blaze_cache(CORPUS), delay=args.delay) as server:
            row = measure(server, "_spf.google.com", args)
            row["name"] = "captured: _spf.google.com"
            rows.append(row)
    print(f"SPF expansion, {args.delay * 1000:.0f} ms added to every DNS answer")
    for row in rows:
        print(f"{row['name']} ({row['records']} records, {row['queries']} queries per run,"
              f" {row['cidrs']} ranges)")  # fmt: skip
        print(f"  parallel (library)      {row['parallel_s']:.3f} s")
        print(f"  one after another       {row['sequential_s']:.3f} s  ({row['ratio']:.1f}x)")
        print(f"  auditor spf (e2e)       {row['cli_s']:.3f} s")
    tree = rows[0]
    met_time = tree["parallel_s"] < TARGET_SECONDS
    met_ratio = tree["ratio"] >= TARGET_RATIO
    print("targets")
    print(f"  {'met   ' if met_time else 'MISSED'} 9-include tree under {TARGET_SECONDS} s:"
          f" {tree['parallel_s']:.3f} s")  # fmt: skip
    print(f"  {'met   ' if met_ratio else 'MISSED'} at least {TARGET_RATIO:g}x faster than"
          f" sequential: {tree['ratio']:.1f}x")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "delay": args.delay}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
