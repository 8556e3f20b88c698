"""Benchmark reading a Cisco ASA configuration: 20,000 access-list entries and 2,000 nested
object-groups, verdicts for tcp/25 on one interface, end to end.

Run from the repository root::

    python bench/bench_appliance.py
    python bench/bench_appliance.py --aces 20000 --groups 2000 --repeat 5 --json bench/out/asa.json

The configuration: two interfaces, 2,000 ``object-group network`` of which the first 1,600
hold ``network-object`` hosts and subnets and the others nest two to four earlier groups
(``group-object``, up to eight levels deep); an access list bound to ``outside`` with 20,000
entries (permits and denies of hosts, subnets and groups, for ``eq smtp``, ``range``, other
ports and ``ip``), then the implicit deny. ``auditor diff`` reads it as the declared side
against one expected /8 with ``--chain outside --to`` the server. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench as core  # noqa: E402 - the shared helpers of bench/bench.py

TARGET_SECONDS = 2.0


def config(aces: int, groups: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = [
        "ASA Version 9.16(4)",
        "interface GigabitEthernet0/0",
        " nameif outside",
        " security-level 0",
        " ip address 198.51.100.1 255.255.255.0",
        "interface GigabitEthernet0/1",
        " nameif inside",
        " security-level 100",
        " ip address 10.0.0.1 255.255.255.0",
        "object network MX",
        " host 10.0.0.25",
    ]

    def host() -> str:
        return f"11.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"

    def net() -> str:
        return f"11.{rng.randrange(256)}.{rng.randrange(256)}.0"

    leaves = groups * 4 // 5
    depth = [0] * groups
    for g in range(groups):
        lines.append(f"object-group network G{g}")
        if g < leaves:
            for _ in range(rng.randrange(2, 6)):
                if rng.random() < 0.7:
                    lines.append(f" network-object host {host()}")
                else:
                    lines.append(f" network-object {net()} 255.255.255.0")
        else:
            inner = [k for k in rng.sample(range(g), 4) if depth[k] < 8][: rng.randrange(2, 5)]
            depth[g] = 1 + max((depth[k] for k in inner), default=0)
            lines += [f" group-object G{k}" for k in inner]
    ports = ["eq smtp", "eq 25", "range 20 30", "eq https", "neq 25", ""]
    for k in range(aces):
        action = "permit" if rng.random() < 0.7 else "deny"
        pick = rng.random()
        if pick < 0.3:
            source = f"object-group G{rng.randrange(groups)}"
        elif pick < 0.8:
            source = f"host {host()}"
        else:
            source = f"{net()} 255.255.255.0"
        dest = "object MX" if rng.random() < 0.8 else "any"
        port = rng.choice(ports)
        proto = "tcp" if port else rng.choice(("tcp", "ip"))
        if k % 50 == 0:
            lines.append(f"access-list outside_in remark block {k // 50}")
        lines.append(
            f"access-list outside_in extended {action} {proto} {source} {dest} {port}".rstrip()
        )
    lines.append("access-group outside_in in interface outside")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aces", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs (median)")
    parser.add_argument("--seed", type=int, default=core.DEFAULT_SEED)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the figures here")
    args = parser.parse_args(argv)

    import compileall

    import auditor

    compileall.compile_dir(str(Path(auditor.__file__).parent), quiet=1)
    cmd = core.auditor_command()
    with tempfile.TemporaryDirectory(prefix="bench-asa-") as tmp:
        work = Path(tmp)
        cfg = work / "asa.cfg"
        cfg.write_text(config(args.aces, args.groups, args.seed))
        expected = work / "expected.txt"
        expected.write_text("11.0.0.0/8\n")
        out = work / "missing.txt"
        runs, rss = [], []
        argv_diff = ["diff", "-e", str(expected), "-d", str(cfg), "--chain", "outside"]
        argv_diff += ["--to", "10.0.0.25", "-o", "cidr"]
        for _ in range(args.repeat):
            wall, peak, code, err = core.run_child([*cmd, *argv_diff], out)
            if code != 1:
                raise SystemExit(f"auditor diff exited {code}: {err}")
            runs.append(wall)
            rss.append(peak)
        missing = len(out.read_text().split())
    seconds = statistics.median(runs)
    print(f"Cisco ASA configuration: {args.aces} entries, {args.groups} nested object-groups")
    print(
        f"  auditor diff (tcp/25 verdicts, -o cidr)  {seconds:.3f} s, peak RSS {max(rss):.0f} MiB"
    )
    print(f"  {missing} missing CIDRs")
    met = seconds < TARGET_SECONDS
    print("targets")
    print(
        f"  {'met   ' if met else 'MISSED'} under {TARGET_SECONDS:g} s end to end: {seconds:.3f} s"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"aces": args.aces, "groups": args.groups, "seconds": seconds}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
