"""Benchmark fetched sources: the whole Azure Service Tags file diffed against a 10k allowlist,
and a warm-cache ``auditor fetch aws`` answered 304 by a local HTTPS server.

Run from the repository root, with the test extra installed (trustme makes the local CA)::

    python bench/bench_feeds.py
    python bench/bench_feeds.py --repeat 7 --json bench/out/feeds.json

The real feeds come from ../shared/corpus/feeds/ when it is there; otherwise feeds of the
same shape and size are generated (and the report says so). See bench/README.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
AZURE = CORPUS / "azure_ServiceTags_Public_2025-11-06.json"
AWS = CORPUS / "aws_ip-ranges_2026-08.json"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import bench as core  # noqa: E402 - the shared helpers of bench/bench.py

TARGETS = (
    ("Azure (all) vs 10k allowlist, -o cidr, e2e < 1.5 s", "azure_cidr", 1.5),
    ("Azure (all) vs 10k allowlist, text report, e2e < 1.5 s", "azure_text", 1.5),
    ("warm-cache fetch aws (304) e2e < 0.5 s", "aws_304", 0.5),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synthetic_azure(rng: random.Random, values: int = 3000, prefixes: int = 93000) -> bytes:
    """A Service Tags document of the real file's shape and size, for when the corpus is absent."""
    per = prefixes // values
    out = []
    for v in range(values):
        nets = []
        for _ in range(per):
            if rng.random() < 0.8:
                nets.append(
                    f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
                )
            else:
                nets.append(f"2603:{rng.randint(0, 0xFFFF):x}:{rng.randint(0, 0xFFFF):x}::/48")
        props = {
            "changeNumber": 1,
            "region": f"r{v % 60}",
            "systemService": f"S{v % 90}",
            "addressPrefixes": nets,
        }
        out.append({"name": f"Tag{v}", "id": f"Tag{v}", "properties": props})
    return json.dumps({"changeNumber": 1, "cloud": "Public", "values": out}).encode()


def synthetic_aws(rng: random.Random, n: int = 17000) -> bytes:
    items = [
        {"ip_prefix": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24",
         "region": "eu-west-1", "service": "EC2", "network_border_group": "eu-west-1"}
        for _ in range(n)
    ]  # fmt: skip
    return json.dumps(
        {
            "syncToken": "1",
            "createDate": "2024-01-01-00-00-00",
            "prefixes": items,
            "ipv6_prefixes": [],
        }  # fmt: skip
    ).encode()


def azure_prefixes(data: bytes) -> list[str]:
    doc = json.loads(data)
    return [p for v in doc["values"] for p in v["properties"]["addressPrefixes"]]


def allowlist(prefixes: Sequence[str], rng: random.Random, n: int = 10000) -> list[str]:
    """70 % of the entries copied from the feed, 30 % unrelated /24s."""
    unique = sorted(set(prefixes))
    picked = rng.sample(unique, min(len(unique), n * 7 // 10))
    while len(picked) < n:
        picked.append(f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24")
    return picked


def netaddr_missing(prefixes: Sequence[str], allowed: Sequence[str]) -> set[str]:
    import netaddr

    return {str(c) for c in (netaddr.IPSet(prefixes) - netaddr.IPSet(allowed)).iter_cidrs()}


def ipaddress_missing(prefixes: Sequence[str], allowed: Sequence[str]) -> set[str]:
    """Standard library only, as in bench/bench.py: collapse each side per family, sweep."""
    out: set[str] = set()
    for version, cls in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        exp = [n for n in map(ipaddress.ip_network, prefixes) if n.version == version]
        dec = [n for n in map(ipaddress.ip_network, allowed) if n.version == version]
        a = core._merged_intervals(ipaddress.collapse_addresses(exp))
        b = core._merged_intervals(ipaddress.collapse_addresses(dec))
        for first, last in core._subtract(a, b):
            out.update(str(n) for n in ipaddress.summarize_address_range(cls(first), cls(last)))
    return out


def median_run(cmd: list[str], repeat: int, out: Path | None = None) -> tuple[float, int, str]:
    runs = []
    code, err = 0, ""
    for _ in range(repeat):
        wall, _, code, err = core.run_child(cmd, out)
        runs.append(wall)
    return statistics.median(runs), code, err


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    seconds, _, result = core.time_in_process(fn, repeat)
    return seconds, result


def bench_azure(work: Path, args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    if AZURE.is_file():
        feed, origin = AZURE, f"corpus {AZURE.name}"
    else:
        feed, origin = work / "azure.json", "generated (corpus absent)"
        feed.write_bytes(synthetic_azure(rng))
    data = feed.read_bytes()
    prefixes = azure_prefixes(data)
    allowed = allowlist(prefixes, rng)
    allow_file = work / "allow10k.txt"
    allow_file.write_text("\n".join(allowed) + "\n")
    base = [*cmd, "diff", "-e", f"azure:from={feed}", "-d", str(allow_file)]
    row: dict[str, Any] = {"feed": origin, "bytes": len(data), "prefixes": len(prefixes)}
    log(f"azure: {len(prefixes)} prefixes ({origin}), allowlist {len(allowed)} entries")
    cidr_out = work / "azure-missing.txt"
    row["azure_cidr"], code, err = median_run([*base, "-o", "cidr"], args.repeat, cidr_out)
    if code != 1:
        raise SystemExit(f"auditor diff exited {code}: {err}")
    row["azure_text"], _, _ = median_run([*base, "-o", "text"], args.repeat)
    row["azure_json"], _, _ = median_run([*base, "-o", "json"], args.repeat)
    ours = set(cidr_out.read_text().split())
    row["missing_cidrs"] = len(ours)
    row["netaddr"], theirs = timed(lambda: netaddr_missing(prefixes, allowed), args.repeat)
    row["netaddr_agrees"] = theirs == ours
    row["ipaddress"], std = timed(lambda: ipaddress_missing(prefixes, allowed), args.repeat)
    row["ipaddress_agrees"] = std == ours
    return row


def bench_aws_304(work: Path, args: argparse.Namespace, cmd: list[str]) -> dict[str, Any]:
    import trustme
    from httpd import FeedServer, Reply

    rng = random.Random(args.seed)
    body = AWS.read_bytes() if AWS.is_file() else synthetic_aws(rng)
    origin = f"corpus {AWS.name}" if AWS.is_file() else "generated (corpus absent)"
    server = FeedServer(trustme.CA())
    try:
        server.route("/ip-ranges.json", Reply(body=body, etag='"bench-1"'))
        catalog = work / "catalog.yaml"
        catalog.write_text(f"providers:\n  aws:\n    url: {server.url('/ip-ranges.json')}\n")
        fetch = [
            *cmd, "fetch", "aws", "--catalog", str(catalog), "--ca-bundle",
            str(server.ca_bundle), "--cache-dir", str(work / "cache"),
        ]  # fmt: skip
        cold, _, code, err = core.run_child(fetch)
        if code != 0:
            raise SystemExit(f"auditor fetch exited {code}: {err}")
        warm, code, err = median_run(fetch, args.repeat)
        statuses = len(server.requests)
        offline, _, _ = median_run([*fetch, "--offline"], args.repeat)
    finally:
        server.stop()
    log(f"aws: {len(body)} bytes ({origin}); {statuses} requests, the first a 200, then 304s")
    return {"feed": origin, "bytes": len(body), "aws_cold": cold, "aws_304": warm,
            "aws_offline": offline}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=core.DEFAULT_SEED, help="random seed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    args = parser.parse_args(argv)
    cmd = core.auditor_command()
    # as in bench/bench.py: an installed package has its bytecode compiled, as pip does
    import compileall

    import auditor

    compileall.compile_dir(str(Path(auditor.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        work = Path(tmp)
        azure = bench_azure(work, args, cmd)
        aws = bench_aws_304(work, args, cmd)
    figures = {**azure, **{f"aws_{k}" if k in ("feed", "bytes") else k: v for k, v in aws.items()}}
    size = f"{azure['bytes']} bytes, {azure['prefixes']} prefixes"
    print(f"Azure Service Tags ({azure['feed']}, {size})")
    print(f"  vs a 10k-entry allowlist: {azure['missing_cidrs']} missing CIDRs")
    print(f"  auditor diff -o cidr     {azure['azure_cidr']:.3f} s  (process start to exit)")
    print(f"  auditor diff (text)      {azure['azure_text']:.3f} s")
    print(f"  auditor diff -o json     {azure['azure_json']:.3f} s")
    for peer in ("netaddr", "ipaddress"):
        agrees = "same CIDRs" if azure[f"{peer}_agrees"] else "DIFFERENT CIDRs"
        ratio = azure[peer] / azure["azure_cidr"]
        print(f"  {peer:<9} in-process  {azure[peer]:.3f} s  ({agrees}; auditor e2e is"
              f" {ratio:.1f}x faster than its library call alone)")  # fmt: skip
    print(f"AWS ip-ranges.json ({aws['feed']}, {aws['bytes']} bytes) from a local HTTPS server")
    print(f"  auditor fetch aws, cold (200)       {aws['aws_cold']:.3f} s")
    print(f"  auditor fetch aws, warm cache (304) {aws['aws_304']:.3f} s")
    print(f"  auditor fetch --offline aws         {aws['aws_offline']:.3f} s")
    print("targets")
    verdicts = []
    for label, key, limit in TARGETS:
        ok = figures[key] < limit
        verdicts.append({"target": label, "value": figures[key], "met": ok})
        print(f"  {'met   ' if ok else 'MISSED'} {label}: {figures[key]:.3f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"figures": figures, "targets": verdicts}, indent=2))
    agree = azure["netaddr_agrees"] and azure["ipaddress_agrees"]
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
